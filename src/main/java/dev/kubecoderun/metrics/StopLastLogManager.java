package dev.kubecoderun.metrics;

import java.util.logging.LogManager;

/**
 * The JDK's LogManager closes every handler from a shutdown hook of its own, which runs at the same
 * time as the API's graceful stop: the stop's lines ("stopped", a sandbox that could not be
 * deleted) would be lost. This one ignores that reset; {@link #resetNow} closes the handlers when
 * the stop is over. Selected with {@code -Djava.util.logging.manager} (Main sets it before any
 * logger exists).
 */
public final class StopLastLogManager extends LogManager {
  @Override
  public void reset() {
    // The JVM's shutdown hook: handlers stay open until the API has stopped.
  }

  /** The real reset: at start (to replace the default handlers) and after the stop. */
  public void resetNow() {
    super.reset();
  }

  /** Resets whichever LogManager is installed (tests run with the JDK's own). */
  static void reset(LogManager manager) {
    if (manager instanceof StopLastLogManager own) {
      own.resetNow();
    } else {
      manager.reset();
    }
  }

  /** Flushes and closes the handlers once the stop is logged. */
  public static void closeHandlers() {
    reset(LogManager.getLogManager());
  }
}
