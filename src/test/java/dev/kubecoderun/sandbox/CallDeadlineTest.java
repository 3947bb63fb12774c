package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

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
}
