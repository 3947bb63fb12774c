package dev.kubecoderun.admin;

import java.time.Instant;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * Usage over a window, summed from the stored buckets: the total, by language, by key, by language
 * and key, and by bucket (hour or minute).
 */
public final class UsageReport {
  private final UsageCounts total = new UsageCounts();
  private final Map<String, UsageCounts> byLanguage = new TreeMap<>();
  private final Map<String, UsageCounts> bySubject = new TreeMap<>();
  private final Map<String, Map<String, UsageCounts>> matrix = new TreeMap<>();
  private final NavigableMap<Instant, UsageCounts> byBucket = new TreeMap<>();
  private final Map<String, Instant> lastBySubject = new TreeMap<>();

  /**
   * Sums {@code buckets}; {@code subject} and {@code language}, when not null, keep only that key
   * or that language.
   */
  static UsageReport of(
      NavigableMap<Instant, Map<String, Long>> buckets, String subject, String language) {
    UsageReport r = new UsageReport();
    buckets.forEach(
        (at, counters) -> {
          UsageCounts bucket = r.byBucket.computeIfAbsent(at, t -> new UsageCounts());
          counters.forEach(
              (field, value) -> {
                String[] parts = field.split("\\|", 3);
                if (parts.length != 3) {
                  return;
                }
                if (subject != null && !subject.equals(parts[0])
                    || language != null && !language.equals(parts[1])) {
                  return;
                }
                bucket.add(parts[2], value);
                r.byLanguage.computeIfAbsent(parts[1], l -> new UsageCounts()).add(parts[2], value);
                r.bySubject.computeIfAbsent(parts[0], s -> new UsageCounts()).add(parts[2], value);
                r.lastBySubject.merge(parts[0], at, (a, b) -> a.isAfter(b) ? a : b);
                r.matrix
                    .computeIfAbsent(parts[1], l -> new TreeMap<>())
                    .computeIfAbsent(parts[0], s -> new UsageCounts())
                    .add(parts[2], value);
              });
        });
    r.byBucket.values().forEach(r.total::add);
    return r;
  }

  public UsageCounts total() {
    return total;
  }

  /** By language code, in code order. */
  public Map<String, UsageCounts> byLanguage() {
    return byLanguage;
  }

  /** By key (its short hash), in hash order. */
  public Map<String, UsageCounts> bySubject() {
    return bySubject;
  }

  /** By key (its short hash): the start of the last bucket it ran in. */
  public Map<String, Instant> lastBySubject() {
    return lastBySubject;
  }

  /** Language, then key. */
  public Map<String, Map<String, UsageCounts>> matrix() {
    return matrix;
  }

  /** Every bucket that had an execution, by its start. */
  public NavigableMap<Instant, UsageCounts> byBucket() {
    return byBucket;
  }
}
