package dev.kubecoderun.admin;

import dev.kubecoderun.common.ThrottledWarning;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.logging.Logger;

/**
 * Usage of the service: records each execution and answers the admin API's questions about a
 * window. Recording never fails a request: a store that cannot take it is logged (at most once a
 * minute), counted ({@code onLost}: the lost-records metric) and the event is lost.
 */
public final class Usage {
  private static final Logger LOG = Logger.getLogger(Usage.class.getName());

  private final UsageStore store;
  private final Clock clock;
  private final Duration retention;
  private final Runnable onLost;
  private final ThrottledWarning notRecorded = new ThrottledWarning(LOG, Duration.ofMinutes(1));

  public Usage(UsageStore store, Clock clock, Duration retention) {
    this(store, clock, retention, () -> {});
  }

  /** {@code onLost} runs once per event the store could not take. */
  public Usage(UsageStore store, Clock clock, Duration retention, Runnable onLost) {
    this.store = store;
    this.clock = clock;
    this.retention = retention;
    this.onLost = onLost;
  }

  public Instant now() {
    return clock.instant();
  }

  public Duration retention() {
    return retention;
  }

  public void record(UsageEvent e) {
    try {
      store.record(e);
    } catch (RuntimeException ex) {
      onLost.run();
      notRecorded.warn("usage not recorded: " + ex.getMessage());
    }
  }

  /** Per-hour usage of the hours that start in [from, to). */
  public UsageReport hourly(Instant from, Instant to, String subject, String language) {
    return UsageReport.of(store.hours(from, to), subject, language);
  }

  /** Per-minute usage (all keys together) of the minutes that start in [from, to). */
  public UsageReport perMinute(Instant from, Instant to, String language) {
    return UsageReport.of(store.minutes(from, to), null, language);
  }

  public List<UsageEvent> failures(int limit) {
    return store.failures(limit);
  }
}
