package dev.kubecoderun.admin;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Executions, their outcomes and their latency histogram, for one key, language, hour or any sum of
 * them. Stores keep them as flat counters named {@code subject|language|metric} (see {@link
 * #fields}); {@link #add} reads such counters back.
 */
public final class UsageCounts {
  long executions;
  long errors;
  long timeouts;
  long failed;
  long totalMs;
  final long[] histogram = new long[Latency.BOUNDS_MS.length];

  /** The counters one event adds, named {@code subject|language|metric}. */
  static Map<String, Long> fields(String subject, UsageEvent e) {
    String p = subject + "|" + e.language() + "|";
    Map<String, Long> f = new LinkedHashMap<>();
    f.put(p + "n", 1L);
    switch (e.outcome()) {
      case "error" -> f.put(p + "error", 1L);
      case "timeout" -> f.put(p + "timeout", 1L);
      case "failed" -> f.put(p + "failed", 1L);
      default -> {}
    }
    f.put(p + "ms", Math.max(0, e.durationMs()));
    f.put(p + "b" + Latency.bucket(e.durationMs()), 1L);
    return f;
  }

  /** Adds one counter read from a store ({@code metric} is the part after the last '|'). */
  void add(String metric, long value) {
    switch (metric) {
      case "n" -> executions += value;
      case "error" -> errors += value;
      case "timeout" -> timeouts += value;
      case "failed" -> failed += value;
      case "ms" -> totalMs += value;
      default -> {
        if (metric.startsWith("b")) {
          try {
            int i = Integer.parseInt(metric.substring(1));
            if (i >= 0 && i < histogram.length) {
              histogram[i] += value;
            }
          } catch (NumberFormatException ignored) {
            // not ours: a field written by a newer version
          }
        }
      }
    }
  }

  public void add(UsageCounts o) {
    executions += o.executions;
    errors += o.errors;
    timeouts += o.timeouts;
    failed += o.failed;
    totalMs += o.totalMs;
    for (int i = 0; i < histogram.length; i++) {
      histogram[i] += o.histogram[i];
    }
  }

  public long executions() {
    return executions;
  }

  public long successes() {
    return executions - errors - timeouts - failed;
  }

  public long errors() {
    return errors;
  }

  public long timeouts() {
    return timeouts;
  }

  public long failed() {
    return failed;
  }

  public long totalMs() {
    return totalMs;
  }

  /** Percent of executions that ended ok (0 when there were none). */
  public double successRate() {
    return executions == 0 ? 0 : round(100.0 * successes() / executions);
  }

  public double averageMs() {
    return executions == 0 ? 0 : round((double) totalMs / executions);
  }

  public Long percentileMs(double q) {
    return Latency.percentile(histogram, q);
  }

  /** The JSON shape of the admin API's usage figures. */
  public Map<String, Object> toJson() {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("executions", executions);
    out.put("success_count", successes());
    out.put("error_count", errors);
    out.put("timeout_count", timeouts);
    out.put("failure_count", failed);
    out.put("success_rate", successRate());
    Map<String, Object> latency = new LinkedHashMap<>();
    latency.put("avg", averageMs());
    latency.put("p50", percentileMs(0.50));
    latency.put("p90", percentileMs(0.90));
    latency.put("p95", percentileMs(0.95));
    latency.put("p99", percentileMs(0.99));
    out.put("latency_ms", latency);
    return out;
  }

  static double round(double v) {
    return Math.round(v * 100) / 100.0;
  }
}
