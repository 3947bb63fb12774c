package dev.kubecoderun.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.MovingClock;
import dev.kubecoderun.testing.SmallDisk;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UsageTest {
  private static final Instant T0 = UsageStoreContract.T0;

  private static UsageEvent event(Instant at, String key, String lang, String outcome, long ms) {
    return UsageStoreContract.event(at, key, lang, outcome, ms);
  }

  /** The store contract on the data directory. */
  @Nested
  class Local extends UsageStoreContract {
    @TempDir Path dir;

    @Override
    UsageStore store(Duration retention, Clock clock) {
      return new LocalUsageStore(dir, retention, clock);
    }
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
  void theDataDirKeepsHoursAndFailuresAcrossARestartAndDropsWhatIsPastRetention(@TempDir Path dir)
      throws Exception {
    MovingClock clock = new MovingClock(T0);
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

    clock.set(T0.plus(Duration.ofDays(2)));
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

  /** A failures file an earlier run left damaged is skipped: the store (and the service) starts. */
  @Test
  void aFailuresFileThatHoldsNoListIsSkippedAtTheStart(@TempDir Path dir) throws Exception {
    Files.createDirectories(dir.resolve("usage"));
    for (String text : List.of("", "[", "null", "[null]", "[{}]", "{}")) {
      Files.writeString(dir.resolve("usage/failures.json"), text);
      LocalUsageStore store = new LocalUsageStore(dir, Duration.ofDays(1), new MovingClock(T0));
      assertEquals(List.of(), store.failures(5), text);
    }
  }

  /**
   * Counts that found the disk full are kept, not lost (nor counted lost) with the write that
   * failed: they are shown meanwhile and written once it has room again (at shutdown at the
   * latest).
   */
  @Test
  void countsTheDiskHadNoRoomForAreWrittenOnceItHasRoom() throws Exception {
    try (SmallDisk disk = SmallDisk.mount(1)) {
      MovingClock clock = new MovingClock(T0);
      LocalUsageStore store = new LocalUsageStore(disk.root, Duration.ofDays(1), clock);
      AtomicInteger lost = new AtomicInteger();
      Usage usage = new Usage(store, clock, Duration.ofDays(1), lost::incrementAndGet);
      disk.fill();
      usage.record(event(T0, "aaaa", "py", "error", 12));
      assertEquals(0, lost.get(), "kept in memory: not lost");
      assertEquals(
          1,
          usage
              .hourly(T0.minusSeconds(3600), T0.plusSeconds(3600), null, null)
              .total()
              .executions());
      store.close(); // a stop on the full disk: logged, not thrown (the rest of the stop goes on)
      disk.makeRoom();
      store.close();

      LocalUsageStore again = new LocalUsageStore(disk.root, Duration.ofDays(1), clock);
      assertEquals(
          1,
          UsageReport.of(again.hours(T0.minusSeconds(3600), T0.plusSeconds(3600)), null, null)
              .total()
              .executions());
      assertEquals(1, again.failures(5).size());
    }
  }
}
