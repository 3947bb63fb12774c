package dev.kubecoderun.testing;

import java.time.Duration;
import java.util.function.BooleanSupplier;
import java.util.function.Predicate;
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

  /**
   * Reads until {@code done} accepts what was read, and returns that: a test asserts on the value
   * it waited for instead of sending its request once more. The failure shows the last value read.
   */
  public static <T> T until(String what, Duration max, Supplier<T> read, Predicate<T> done)
      throws InterruptedException {
    long deadline = System.nanoTime() + max.toNanos();
    long pollMs = FIRST_POLL_MS;
    while (true) {
      T value = read.get();
      if (done.test(value)) {
        return value;
      }
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "timed out after "
                + max.toSeconds()
                + " s waiting for "
                + what
                + "\nthe last value read: "
                + value);
      }
      Thread.sleep(pollMs);
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
  }
}
