package dev.kubecoderun.sandbox;

import dev.kubecoderun.language.Language;
import java.time.Duration;
import java.util.EnumMap;
import java.util.Map;
import java.util.function.LongSupplier;
import java.util.function.ToIntFunction;

/**
 * The pool size of each language when it follows demand: never less than the configured size
 * (POD_POOL_&lt;LANG&gt;), more when the recent peak of that language's sandboxes in use at once,
 * times the seconds a refill takes, says so. Every sandbox taken starts its replacement, and a run
 * that finds the pool empty waits for one: to keep that wait away, as many sandboxes must be ready
 * as are taken while a replacement starts. All pools together stay within {@code cap} (with the
 * sandboxes in use): K8S_MAX_PODS on Kubernetes.
 */
final class PoolDemand implements ToIntFunction<Language> {
  private static final int WINDOW_SECONDS = 60;

  private final ToIntFunction<Language> configured;
  private final int cap;
  private final LongSupplier nanoClock;
  private final Map<Language, Stats> stats = new EnumMap<>(Language.class);

  /** Per language: in use now, the peak in use per second over the window, refill time. */
  private static final class Stats {
    int inUse;
    final int[] peaks = new int[WINDOW_SECONDS];
    final long[] seconds = new long[WINDOW_SECONDS];
    double refillSeconds; // moving average; 0 until a refill was seen
  }

  PoolDemand(ToIntFunction<Language> configured, int cap, LongSupplier nanoClock) {
    this.configured = configured;
    this.cap = cap;
    this.nanoClock = nanoClock;
    for (Language l : Language.values()) {
      stats.put(l, new Stats());
    }
  }

  PoolDemand(ToIntFunction<Language> configured, int cap) {
    this(configured, cap, System::nanoTime);
  }

  synchronized void taken(Language language) {
    Stats s = stats.get(language);
    s.inUse++;
    record(s);
  }

  synchronized void returned(Language language) {
    Stats s = stats.get(language);
    s.inUse = Math.max(0, s.inUse - 1);
    record(s);
  }

  /** A sandbox of {@code language} took {@code took} to start. */
  synchronized void refilled(Language language, Duration took) {
    Stats s = stats.get(language);
    double secs = took.toNanos() / 1e9;
    s.refillSeconds = s.refillSeconds == 0 ? secs : 0.7 * s.refillSeconds + 0.3 * secs;
  }

  private void record(Stats s) {
    long now = nanoClock.getAsLong() / 1_000_000_000L;
    int i = Math.floorMod(now, WINDOW_SECONDS);
    if (s.seconds[i] != now) {
      s.seconds[i] = now;
      s.peaks[i] = 0;
    }
    s.peaks[i] = Math.max(s.peaks[i], s.inUse);
  }

  /** The recent peak in use at once (the window's, and now). */
  private int peak(Stats s) {
    long now = nanoClock.getAsLong() / 1_000_000_000L;
    int peak = s.inUse;
    for (int i = 0; i < WINDOW_SECONDS; i++) {
      if (now - s.seconds[i] < WINDOW_SECONDS) {
        peak = Math.max(peak, s.peaks[i]);
      }
    }
    return peak;
  }

  /** What demand alone asks for: ceil(peak in use x refill seconds). */
  synchronized int demand(Language language) {
    Stats s = stats.get(language);
    return (int) Math.ceil(peak(s) * s.refillSeconds);
  }

  @Override
  public synchronized int applyAsInt(Language language) {
    int base = configured.applyAsInt(language);
    int want = demand(language);
    if (want <= base) {
      return base;
    }
    // The room left under the cap: what is in use, and the other pools' configured sizes.
    int taken = 0;
    for (Language l : Language.values()) {
      taken += stats.get(l).inUse + (l == language ? 0 : configured.applyAsInt(l));
    }
    return Math.max(base, Math.min(want, cap - taken));
  }

  /** For /health/detailed: the demand part of a language's target. */
  synchronized Map<String, Object> describe(Language language) {
    Stats s = stats.get(language);
    return Map.of(
        "in_use",
        s.inUse,
        "peak_in_use",
        peak(s),
        "refill_seconds",
        Math.round(s.refillSeconds * 100) / 100.0);
  }
}
