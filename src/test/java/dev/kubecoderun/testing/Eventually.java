package dev.kubecoderun.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * How every test waits: for a condition, up to a bound, never for a fixed time. The bound only
 * matters when the condition never comes (then the test fails saying what it waited for).
 */
public final class Eventually {
  // Quick at first for conditions that come fast; then no more than five looks a second, so a
  // condition that asks a server (health, the Kubernetes API) does not load it while it waits.
  private static final long FIRST_POLL_MS = 10;
  private static final long MAX_POLL_MS = 200;

  private Eventually() {}

  public static void await(String what, Duration timeout, BooleanSupplier condition)
      throws InterruptedException {
    await(what, timeout, condition, () -> "");
  }

  /** {@code context} is added to the failure (a server's log, say). */
  public static void await(
      String what, Duration timeout, BooleanSupplier condition, Supplier<String> context)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    long pollMs = FIRST_POLL_MS;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        String more = context.get();
        throw new AssertionError(
            "timed out after "
                + timeout.toSeconds()
                + " s waiting for "
                + what
                + (more.isEmpty() ? "" : "\n" + more));
      }
      Thread.sleep(pollMs);
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
  }
}
