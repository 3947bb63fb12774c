package dev.kubecoderun.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UsageTest {
  private static final Instant T0 = Instant.parse("2026-03-02T10:15:00Z");

  /** A clock the test moves. */
  private static final class MovingClock extends Clock {
    final AtomicReference<Instant> now = new AtomicReference<>(T0);

    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }

    @Override
    public Instant instant() {
      return now.get();
    }
  }

  private static UsageEvent event(Instant at, String key, String lang, String outcome, long ms) {
    return new UsageEvent(
        at, key, lang, outcome, ms, outcome.equals("failed") ? 503 : 200, null, "r");
  }

  @Test
  void percentilesAreTheBoundsOfTheirBuckets() {
    long[] counts = new long[Latency.BOUNDS_MS.length];
    for (long ms : new long[] {1, 4, 4, 4, 40, 40, 40, 40, 900, 45_000}) {
      counts[Latency.bucket(ms)]++;
    }
    assertEquals(50L, Latency.percentile(counts, 0.5));
    assertEquals(1_000L, Latency.percentile(counts, 0.9));
    assertEquals(60_000L, Latency.percentile(counts, 0.99));
    assertNull(Latency.percentile(new long[Latency.BOUNDS_MS.length], 0.5));
    assertEquals(Latency.BOUNDS_MS.length - 1, Latency.bucket(Long.MAX_VALUE - 1));
  }

  @Test
  void countsAddUpByKeyLanguageAndHourAndFiltersKeepOne(@TempDir Path dir) {
    MovingClock clock = new MovingClock();
    LocalUsageStore store = new LocalUsageStore(dir, Duration.ofDays(2), clock);
    Usage usage = new Usage(store, clock, Duration.ofDays(2));
    usage.record(event(T0, "aaaa", "py", "ok", 20));
    usage.record(event(T0, "aaaa", "py", "error", 30));
    usage.record(event(T0.plusSeconds(3600), "aaaa", "js", "timeout", 30_000));
    usage.record(event(T0.plusSeconds(3600), "bbbb", "py", "failed", 5));
    UsageReport all = usage.hourly(T0.minusSeconds(7200), T0.plusSeconds(7200), null, null);
    assertEquals(4, all.total().executions());
    assertEquals(1, all.total().successes());
    assertEquals(25.0, all.total().successRate());
    assertEquals(3, all.byLanguage().get("py").executions());
    assertEquals(1, all.byLanguage().get("js").timeouts());
    assertEquals(1, all.bySubject().get("bbbb").failed());
    assertEquals(2, all.byBucket().size(), "two hours");
    assertEquals(2, all.matrix().get("py").get("aaaa").executions());
    UsageReport onlyA = usage.hourly(T0.minusSeconds(7200), T0.plusSeconds(7200), "aaaa", "py");
    assertEquals(2, onlyA.total().executions());
    assertEquals(1, onlyA.total().errors());
    UsageReport live = usage.perMinute(T0, T0.plusSeconds(60), null);
    assertEquals(2, live.total().executions());
    assertEquals(3, usage.failures(10).size(), "error, timeout and failed; newest first");
    assertEquals("failed", usage.failures(10).get(0).outcome());
  }

  @Test
  void theDataDirKeepsHoursAndFailuresAcrossARestartAndDropsWhatIsPastRetention(@TempDir Path dir)
      throws Exception {
    MovingClock clock = new MovingClock();
    LocalUsageStore store = new LocalUsageStore(dir, Duration.ofDays(1), clock);
    store.record(event(T0, "aaaa", "py", "error", 12));
    store.close();
    assertTrue(Files.exists(dir.resolve("usage/hours/2026-03-02-10.json")));

    LocalUsageStore again = new LocalUsageStore(dir, Duration.ofDays(1), clock);
    Usage usage = new Usage(again, clock, Duration.ofDays(1));
    assertEquals(
        1,
        usage.hourly(T0.minusSeconds(3600), T0.plusSeconds(3600), null, null).total().executions());
    assertEquals(1, usage.failures(5).size());

    clock.now.set(T0.plus(Duration.ofDays(2)));
    again.record(event(clock.instant(), "aaaa", "py", "ok", 1));
    again.close();
    assertTrue(
        !Files.exists(dir.resolve("usage/hours/2026-03-02-10.json")), "past the retention: gone");
    LocalUsageStore third = new LocalUsageStore(dir, Duration.ofDays(1), clock);
    assertEquals(
        0,
        UsageReport.of(third.hours(T0.minusSeconds(3600), T0.plusSeconds(3600)), null, null)
            .total()
            .executions());
  }
}
