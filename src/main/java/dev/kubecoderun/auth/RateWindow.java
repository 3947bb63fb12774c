package dev.kubecoderun.auth;

import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;

/**
 * The fixed UTC calendar windows of per-key rate limits, with the reference's counter key names
 * ({@code second:%Y-%m-%d-%H:%M:%S}, ...) and counter TTLs, shortest first.
 */
public enum RateWindow {
  SECOND("second", "per_second", "yyyy-MM-dd-HH:mm:ss", Duration.ofSeconds(2)),
  MINUTE("minute", "per_minute", "yyyy-MM-dd-HH:mm", Duration.ofSeconds(120)),
  HOUR("hour", "hourly", "yyyy-MM-dd-HH", Duration.ofSeconds(7200)),
  DAY("day", "daily", "yyyy-MM-dd", Duration.ofSeconds(172800)),
  MONTH("month", "monthly", "yyyy-MM", Duration.ofSeconds(2764800));

  private final String keyName;
  private final String label;
  private final DateTimeFormatter format;
  private final Duration counterTtl;

  RateWindow(String keyName, String label, String pattern, Duration counterTtl) {
    this.keyName = keyName;
    this.label = label;
    this.format = DateTimeFormatter.ofPattern(pattern).withZone(ZoneOffset.UTC);
    this.counterTtl = counterTtl;
  }

  /** The counter's name within a key's usage keys, e.g. {@code hour:2025-01-02-03}. */
  public String counter(Instant now) {
    return keyName + ":" + format.format(now);
  }

  public Duration counterTtl() {
    return counterTtl;
  }

  /** The name the reference uses in messages and headers ("hourly", "per_minute", ...). */
  public String label() {
    return label;
  }

  public Instant resetAt(Instant now) {
    ZonedDateTime t = now.atZone(ZoneOffset.UTC);
    return switch (this) {
      case SECOND -> t.truncatedTo(ChronoUnit.SECONDS).plusSeconds(1).toInstant();
      case MINUTE -> t.truncatedTo(ChronoUnit.MINUTES).plusMinutes(1).toInstant();
      case HOUR -> t.truncatedTo(ChronoUnit.HOURS).plusHours(1).toInstant();
      case DAY -> t.truncatedTo(ChronoUnit.DAYS).plusDays(1).toInstant();
      case MONTH -> t.truncatedTo(ChronoUnit.DAYS).withDayOfMonth(1).plusMonths(1).toInstant();
    };
  }
}
