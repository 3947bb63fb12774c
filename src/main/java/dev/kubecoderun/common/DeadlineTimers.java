package dev.kubecoderun.common;

import java.util.concurrent.ScheduledThreadPoolExecutor;

/** The one-thread timers behind per-call deadlines. */
public final class DeadlineTimers {
  private DeadlineTimers() {}

  /**
   * A daemon timer thread named {@code name} whose cancelled tasks leave its queue at once. A
   * call's deadline is cancelled when the call ends, nearly always long before it would fire; kept
   * until then (the JDK's default), every call of the last deadline's length (minutes) would stay
   * queued, holding its thread.
   */
  public static ScheduledThreadPoolExecutor create(String name) {
    ScheduledThreadPoolExecutor timer =
        new ScheduledThreadPoolExecutor(
            1,
            r -> {
              Thread t = new Thread(r, name);
              t.setDaemon(true);
              return t;
            });
    timer.setRemoveOnCancelPolicy(true);
    return timer;
  }
}
