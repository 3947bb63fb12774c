package dev.kubecoderun.common;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * A warning logged at most once per interval: a store that is down fails every request, and one
 * line a minute says so as well as a thousand a second.
 */
public final class ThrottledWarning {
  private final Logger log;
  private final long intervalNanos;
  private final LongSupplier nanoTime;
  private final AtomicLong last;

  public ThrottledWarning(Logger log, Duration interval) {
    this(log, interval, System::nanoTime);
  }

  ThrottledWarning(Logger log, Duration interval, LongSupplier nanoTime) {
    this.log = log;
    this.intervalNanos = interval.toNanos();
    this.nanoTime = nanoTime;
    this.last = new AtomicLong(nanoTime.getAsLong() - intervalNanos - 1);
  }

  /** Logs {@code message} unless a warning went out less than the interval ago. */
  public void warn(String message) {
    long now = nanoTime.getAsLong();
    long before = last.get();
    if (now - before > intervalNanos && last.compareAndSet(before, now)) {
      log.warning(message);
    }
  }
}
