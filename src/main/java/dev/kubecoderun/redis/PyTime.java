package dev.kubecoderun.redis;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;

/**
 * Timestamps as the Python version writes them into Redis ({@code datetime.isoformat()} of an aware
 * UTC time: {@code 2025-01-02T03:04:05.123456+00:00}), so both read each other's data.
 */
public final class PyTime {
  private static final DateTimeFormatter FORMAT =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSSSSSxxx").withZone(ZoneOffset.UTC);

  /** The reference's "never expires" value of {@code expires_at}. */
  public static final String NEVER = "9999-12-31T23:59:59+00:00";

  private PyTime() {}

  public static String format(Instant t) {
    return FORMAT.format(t);
  }

  /** Parses aware and naive (taken as UTC) ISO times; null or blank gives null. */
  public static Instant parse(String s) {
    if (s == null || s.isBlank()) {
      return null;
    }
    try {
      return OffsetDateTime.parse(s).toInstant();
    } catch (DateTimeParseException e) {
      return LocalDateTime.parse(s).toInstant(ZoneOffset.UTC);
    }
  }
}
