package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.Eventually;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ExecutionSlotsTest {
  @Test
  void callersOverTheCapWaitThenGiveUp() throws InterruptedException {
    ExecutionSlots slots = new ExecutionSlots(2, Duration.ofMillis(50));
    assertTrue(slots.tryAcquire());
    assertTrue(slots.tryAcquire());
    assertEquals(2, slots.inUse());
    assertFalse(slots.tryAcquire(), "third caller times out");
    slots.release();
    assertTrue(slots.tryAcquire());
  }

  @Test
  void drainWaitsForRunningExecutions() throws InterruptedException {
    ExecutionSlots slots = new ExecutionSlots(1, Duration.ofMillis(10));
    assertTrue(slots.tryAcquire());
    assertFalse(slots.drain(Duration.ofMillis(30)));
    slots.release();
    assertTrue(slots.drain(Duration.ofMillis(30)));
  }

  /**
   * A stop closes the slots: a caller already waiting gives up as the stop begins, not when a slot
   * frees (the stop would destroy its sandbox under the run) nor at the end of its wait; a later
   * caller gives up at once; the running execution finishes, and the stop waits for it.
   */
  @Test
  void aStopRefusesEveryRunNotYetStartedAndWaitsForTheRunningOne() throws Exception {
    ExecutionSlots slots = new ExecutionSlots(1, Duration.ofMinutes(5));
    assertTrue(slots.tryAcquire(), "the running execution");
    var threads = Executors.newVirtualThreadPerTaskExecutor();
    Thread[] waiter = new Thread[1];
    CompletableFuture<Boolean> waiting =
        CompletableFuture.supplyAsync(
            () -> {
              waiter[0] = Thread.currentThread();
              try {
                return slots.tryAcquire();
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            },
            threads);
    Eventually.await(
        "the second caller waiting for the slot",
        Duration.ofSeconds(10),
        () -> waiter[0] != null && waiter[0].getState() == Thread.State.TIMED_WAITING);

    CompletableFuture<Boolean> stop =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return slots.drain(Duration.ofMinutes(5));
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            },
            threads);

    assertFalse(
        waiting.get(10, TimeUnit.SECONDS), "the waiting caller is refused as the stop begins");
    assertTrue(slots.closed());
    assertFalse(slots.tryAcquire(), "a caller after the stop began is refused at once");
    assertFalse(stop.isDone(), "the stop waits for the running execution");
    assertEquals(1, slots.inUse());

    slots.release();
    assertTrue(stop.get(10, TimeUnit.SECONDS), "the running execution ended within the grace");
    assertEquals(0, slots.inUse());
    assertFalse(slots.tryAcquire(), "still refused after the stop's wait");
    threads.close();
  }
}
