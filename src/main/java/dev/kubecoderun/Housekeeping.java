package dev.kubecoderun;

import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Runs the periodic clean-up jobs on one background thread. A failing run (a store is down) is
 * logged and the job simply runs again at its next interval.
 */
final class Housekeeping implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(Housekeeping.class.getName());

  /** One run of a job. */
  interface Job {
    void run() throws Exception;
  }

  private final ScheduledExecutorService scheduler =
      Executors.newSingleThreadScheduledExecutor(
          r -> {
            Thread t = new Thread(r, "housekeeping");
            t.setDaemon(true);
            return t;
          });

  void every(String name, Duration interval, Job job) {
    long ms = interval.toMillis();
    scheduler.scheduleWithFixedDelay(
        () -> {
          try {
            job.run();
          } catch (Exception e) {
            LOG.log(Level.WARNING, name + " failed; it runs again in " + interval, e);
          }
        },
        ms,
        ms,
        TimeUnit.MILLISECONDS);
  }

  @Override
  public void close() {
    scheduler.shutdownNow();
  }
}
