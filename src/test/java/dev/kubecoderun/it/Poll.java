package dev.kubecoderun.it;

import java.time.Duration;
import java.util.function.Predicate;
import java.util.function.Supplier;

/** Waits for a condition that a server reaches after its answer (usage is recorded after it). */
final class Poll {
  private Poll() {}

  /**
   * The first value of {@code read} that {@code done} accepts, or the last one after {@code max}.
   */
  static <T> T until(Supplier<T> read, Predicate<T> done, Duration max) {
    long end = System.nanoTime() + max.toNanos();
    T value = read.get();
    while (!done.test(value) && System.nanoTime() < end) {
      try {
        Thread.sleep(20);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return value;
      }
      value = read.get();
    }
    return value;
  }
}
