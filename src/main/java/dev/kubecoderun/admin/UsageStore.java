package dev.kubecoderun.admin;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;

/**
 * Where usage is kept: per-hour counters (by key and language, for {@code USAGE_RETENTION_DAYS}),
 * per-minute counters (by language, for two hours: the live rate) and the latest failures. Redis in
 * production, so every replica adds to the same figures; the data directory otherwise.
 */
public interface UsageStore extends AutoCloseable {
  /** Per-minute counters are kept this long. */
  Duration MINUTES_KEPT = Duration.ofHours(2);

  /** Failures kept for the failures list. */
  int FAILURES_KEPT = 200;

  DateTimeFormatter HOUR = DateTimeFormatter.ofPattern("yyyy-MM-dd-HH").withZone(ZoneOffset.UTC);
  DateTimeFormatter MINUTE =
      DateTimeFormatter.ofPattern("yyyy-MM-dd-HH:mm").withZone(ZoneOffset.UTC);

  /**
   * Adds the event's counters to its hour (per key) and its minute (all keys together) and, when it
   * is a failure, puts it at the head of the failures list. Throws {@link
   * java.io.UncheckedIOException} when the store cannot be reached.
   */
  void record(UsageEvent e);

  /** The counters of each hour starting in [from, to), by the hour's start. */
  NavigableMap<Instant, Map<String, Long>> hours(Instant from, Instant to);

  /** The counters of each minute starting in [from, to), by the minute's start. */
  NavigableMap<Instant, Map<String, Long>> minutes(Instant from, Instant to);

  /** The latest failures, newest first. */
  List<UsageEvent> failures(int limit);

  /** Writes out what is not written yet. */
  @Override
  default void close() {}
}
