package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
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
}
