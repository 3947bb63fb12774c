package dev.kubecoderun.api;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The dependency report of /health/detailed. Each check costs real work (an S3 object written, read
 * and deleted; a Redis round trip; a Kubernetes API call), and any API key may ask: a report is
 * reused for {@code maxAge} (HEALTH_CACHE_SECONDS), as the reference's {@code use_cache}, and
 * checks run one report at a time, so a burst of requests costs one set of checks, not one each.
 */
final class HealthReports {
  private final List<HealthCheck> checks;
  private final Duration maxAge;
  private final ReentrantLock running = new ReentrantLock();
  private volatile Report last;

  private record Report(long startedNanos, Map<String, Object> body) {}

  HealthReports(List<HealthCheck> checks, Duration maxAge) {
    this.checks = checks;
    this.maxAge = maxAge;
  }

  /**
   * {@code useCache}: a report younger than the maximum age will do. Otherwise one that began after
   * this call did (another caller's, while this one waited for it) is as fresh as a new one.
   */
  Map<String, Object> report(boolean useCache) {
    long asked = System.nanoTime();
    Report r = last;
    if (useCache && young(r, asked)) {
      return r.body();
    }
    running.lock();
    try {
      r = last;
      if (r != null && (r.startedNanos() - asked >= 0 || useCache && young(r, asked))) {
        return r.body();
      }
      long started = System.nanoTime();
      Map<String, Object> body = run(checks);
      last = new Report(started, body);
      return body;
    } finally {
      running.unlock();
    }
  }

  /** Callers waiting for the report in progress (the tests wait for them). */
  int waiting() {
    return running.getQueueLength();
  }

  private boolean young(Report r, long now) {
    return r != null && now - r.startedNanos() < maxAge.toNanos();
  }

  /** Runs every check: {status, timestamp, services: {name: {...}}, summary}. */
  private static Map<String, Object> run(List<HealthCheck> checks) {
    Map<String, Object> services = new LinkedHashMap<>();
    Instant at = Instant.now();
    int healthy = 0;
    for (HealthCheck check : checks) {
      long start = System.nanoTime();
      HealthCheckResponse r;
      try {
        r = check.call();
      } catch (RuntimeException e) {
        r = HealthCheckResponse.builder().status(false).detail("error", e.getMessage()).build();
      }
      boolean up = r.status() == HealthCheckResponse.Status.UP;
      healthy += up ? 1 : 0;
      Map<String, Object> s = new LinkedHashMap<>();
      s.put("service", check.name());
      s.put("status", up ? "healthy" : "unhealthy");
      s.put("response_time_ms", Math.round((System.nanoTime() - start) / 1e4) / 100.0);
      s.put("details", r.details());
      services.put(check.name(), s);
    }
    boolean allUp = healthy == checks.size();
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("status", allUp ? "healthy" : "unhealthy");
    body.put("timestamp", at.toString());
    body.put("services", services);
    body.put(
        "summary",
        Map.of(
            "total_services",
            checks.size(),
            "healthy_services",
            healthy,
            "unhealthy_services",
            checks.size() - healthy));
    return body;
  }
}
