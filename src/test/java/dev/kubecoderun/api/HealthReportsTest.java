package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.kubecoderun.testing.Eventually;
import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class HealthReportsTest {
  /** A check that counts its calls and, once told to, holds each call until released. */
  private static final class CountingCheck implements HealthCheck {
    final AtomicInteger calls = new AtomicInteger();
    volatile CountDownLatch release = new CountDownLatch(0);

    @Override
    public String name() {
      return "counting";
    }

    @Override
    public HealthCheckResponse call() {
      calls.incrementAndGet();
      try {
        release.await();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      return HealthCheckResponse.builder().status(true).build();
    }
  }

  @Test
  void aReportIsReusedWithinItsMaximumAgeUnlessAFreshOneIsAskedFor() {
    CountingCheck check = new CountingCheck();
    HealthReports reports = new HealthReports(List.of(check), Duration.ofMinutes(5));
    Map<String, Object> first = reports.report(true);
    assertSame(first, reports.report(true));
    assertEquals(1, check.calls.get());
    Map<String, Object> fresh = reports.report(false);
    assertNotSame(first, fresh);
    assertEquals(2, check.calls.get());
    assertSame(fresh, reports.report(true), "the fresh one is the one reused next");
  }

  @Test
  void withAMaximumAgeOfZeroEveryReportRunsItsChecks() {
    CountingCheck check = new CountingCheck();
    HealthReports reports = new HealthReports(List.of(check), Duration.ZERO);
    reports.report(true);
    reports.report(true);
    assertEquals(2, check.calls.get());
  }

  /**
   * Eight fresh reports asked while one runs cost one more run between them, not eight: each of
   * them takes a report whose checks began after it asked.
   */
  @Test
  void freshReportsAskedWhileOneRunsShareTheNextRun() throws Exception {
    CountingCheck check = new CountingCheck();
    HealthReports reports = new HealthReports(List.of(check), Duration.ZERO);
    check.release = new CountDownLatch(1);
    List<Thread> threads = new ArrayList<>();
    List<Map<String, Object>> bodies = java.util.Collections.synchronizedList(new ArrayList<>());
    threads.add(Thread.ofVirtual().start(() -> bodies.add(reports.report(false))));
    Eventually.await(
        "the first report running", Duration.ofSeconds(10), () -> check.calls.get() == 1);
    for (int i = 0; i < 8; i++) {
      threads.add(Thread.ofVirtual().start(() -> bodies.add(reports.report(false))));
    }
    Eventually.await("eight waiting", Duration.ofSeconds(10), () -> reports.waiting() == 8);
    check.release.countDown();
    for (Thread t : threads) {
      t.join();
    }
    assertEquals(2, check.calls.get(), "the first run, then one for the eight");
    assertEquals(9, bodies.size());
    assertEquals(2, bodies.stream().distinct().count());
  }
}
