package dev.kubecoderun.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What every usage store does: counters by hour and minute, and the latest failures. */
abstract class UsageStoreContract {
  static final Instant T0 = Instant.parse("2026-03-02T10:15:00Z");

  /** A new, empty store keeping hours for {@code retention}, with {@code clock} at T0. */
  abstract UsageStore store(Duration retention, Clock clock);

  static UsageEvent event(Instant at, String key, String lang, String outcome, long ms) {
    return new UsageEvent(
        at, key, lang, outcome, ms, outcome.equals("failed") ? 503 : 200, null, "r");
  }

  @Test
  void countsAddUpByKeyLanguageAndHourAndFiltersKeepOne() {
    Clock clock = Clock.fixed(T0, ZoneOffset.UTC);
    Usage usage = new Usage(store(Duration.ofDays(2), clock), clock, Duration.ofDays(2));
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
  void aWholeRetentionIsReadAndOnlyItsBucketsWithCountsComeBack() {
    Clock clock = Clock.fixed(T0, ZoneOffset.UTC);
    UsageStore store = store(Duration.ofDays(30), clock);
    Instant firstHour = Instant.parse("2026-03-02T10:00:00Z");
    store.record(event(T0.minus(Duration.ofDays(29)), "aaaa", "py", "ok", 7));
    store.record(event(T0.minusSeconds(600), "aaaa", "py", "ok", 7));
    store.record(event(T0, "bbbb", "js", "error", 120));
    var hours = store.hours(firstHour.minus(Duration.ofDays(30)), firstHour.plusSeconds(3600));
    assertEquals(
        List.of(firstHour.minus(Duration.ofDays(29)), firstHour),
        List.copyOf(hours.keySet()),
        "the hours with counts, in order");
    UsageReport month = UsageReport.of(hours, null, null);
    assertEquals(3, month.total().executions());
    assertEquals(1, month.total().errors());
    assertEquals(134, month.total().totalMs());
    var minutes = store.minutes(T0.minusSeconds(3600), T0.plusSeconds(60));
    assertEquals(List.of(T0.minusSeconds(600), T0), List.copyOf(minutes.keySet()));
    assertEquals(1, store.failures(1).size(), "limited");
    assertEquals(120, store.failures(10).get(0).durationMs());
  }
}
