package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** A call's deadline, once the call ends, holds nothing: not its timer, not its thread. */
class CallDeadlineTest {
  @Test
  void deadlinesOfEndedCallsLeaveNothingQueued() {
    int before = CallDeadline.pending();
    for (int i = 0; i < 10_000; i++) {
      try (CallDeadline d = new CallDeadline(Duration.ofMinutes(10))) {
        assertFalse(d.passed());
      }
    }
    assertEquals(before, CallDeadline.pending(), "ten thousand ended calls still queued");
    assertFalse(Thread.currentThread().isInterrupted());
  }

  /**
   * A read of a runner's stream once the deadline passed (the caller was elsewhere) fails, cleanly.
   */
  @Test
  void aReadAfterTheDeadlinePassedFailsAndLeavesNoInterrupt() {
    try (CallDeadline d = new CallDeadline(Duration.ofMillis(1))) {
      d.offRunner(); // storing a file's bytes, say
      long giveUp = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (!d.passed() && System.nanoTime() < giveUp) {
        Thread.onSpinWait();
      }
      assertTrue(d.passed());
      RunnerStream in = new RunnerStream(new ByteArrayInputStream(new byte[10]), d);
      assertThrows(IOException.class, in::read);
      assertFalse(Thread.interrupted(), "the deadline's interrupt left on the thread");
    }
  }

  /**
   * A stopped clock (the caller waits for memory) neither passes nor interrupts; started again, it
   * counts what was left.
   */
  @Test
  void aStoppedClockDoesNotPassAndGoesOnWithWhatWasLeft() {
    try (CallDeadline d = new CallDeadline(Duration.ofMillis(100))) {
      d.stopClock();
      long stopped = System.nanoTime() + Duration.ofMillis(300).toNanos();
      while (System.nanoTime() < stopped) {
        Thread.onSpinWait();
      }
      assertFalse(d.passed(), "passed while its clock was stopped");
      assertFalse(Thread.currentThread().isInterrupted());
      d.startClockAgain();
      long giveUp = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (!d.passed() && System.nanoTime() < giveUp) {
        Thread.onSpinWait();
      }
      assertTrue(d.passed(), "never passed after its clock started again");
      assertTrue(Thread.currentThread().isInterrupted(), "passed on the runner: interrupted");
    }
    assertFalse(Thread.interrupted(), "the deadline's interrupt left on the thread");
  }
}
