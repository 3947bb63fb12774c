package dev.kubecoderun.admin;

/**
 * The latency histogram of usage: fixed bucket upper bounds in milliseconds, about three per factor
 * of ten from 1 ms to 10 min. Buckets add up across hours, keys and replicas, which percentiles do
 * not; a percentile read back is the upper bound of the bucket it falls in.
 */
final class Latency {
  static final long[] BOUNDS_MS = {
    1,
    2,
    3,
    5,
    7,
    10,
    15,
    20,
    30,
    50,
    70,
    100,
    150,
    200,
    300,
    500,
    700,
    1_000,
    1_500,
    2_000,
    3_000,
    5_000,
    7_000,
    10_000,
    15_000,
    20_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    Long.MAX_VALUE
  };

  private Latency() {}

  static int bucket(long ms) {
    for (int i = 0; i < BOUNDS_MS.length; i++) {
      if (ms <= BOUNDS_MS[i]) {
        return i;
      }
    }
    return BOUNDS_MS.length - 1;
  }

  /** The bound of the bucket holding the {@code q}-quantile (0 &lt; q ≤ 1); null when empty. */
  static Long percentile(long[] counts, double q) {
    long total = 0;
    for (long c : counts) {
      total += c;
    }
    if (total == 0) {
      return null;
    }
    long rank = (long) Math.ceil(q * total);
    long seen = 0;
    int last = 0;
    for (int i = 0; i < counts.length; i++) {
      seen += counts[i];
      if (counts[i] > 0) {
        last = i;
      }
      if (seen >= rank) {
        return bound(i);
      }
    }
    return bound(last);
  }

  /** The last bucket has no bound: 10 min stands for it. */
  private static long bound(int i) {
    return i == BOUNDS_MS.length - 1 ? BOUNDS_MS[i - 1] : BOUNDS_MS[i];
  }
}
