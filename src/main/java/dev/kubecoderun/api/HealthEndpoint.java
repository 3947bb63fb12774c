package dev.kubecoderun.api;

import dev.kubecoderun.common.Json;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;

/** /health (alive), /ready (serving, not draining) and /health/detailed (each dependency). */
final class HealthEndpoint implements HttpService {
  private final String version;
  private final BooleanSupplier ready;
  private final List<HealthCheck> checks;

  HealthEndpoint(String version, BooleanSupplier ready, List<HealthCheck> checks) {
    this.version = version;
    this.ready = ready;
    this.checks = checks;
  }

  @Override
  public void routing(HttpRules rules) {
    rules
        .get("/health", this::health)
        .get("/ready", this::ready)
        .get("/health/detailed", this::detailed);
  }

  private void health(ServerRequest req, ServerResponse res) {
    send(res, 200, Map.of("status", "healthy", "version", version));
  }

  private void ready(ServerRequest req, ServerResponse res) {
    if (!ready.getAsBoolean()) {
      throw ApiError.unavailable("Not ready: the service is shutting down", 5);
    }
    send(res, 200, Map.of("status", "ready"));
  }

  private void detailed(ServerRequest req, ServerResponse res) {
    Map<String, Object> body = report(checks);
    // 200 either way: every non-2xx of the API carries the error shape, and this is a report.
    res.header("X-Health-Status", (String) body.get("status"));
    send(res, 200, body);
  }

  /** Runs every check: {status, timestamp, services: {name: {...}}, summary}. */
  static Map<String, Object> report(List<HealthCheck> checks) {
    Map<String, Object> services = new LinkedHashMap<>();
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
    body.put("timestamp", Instant.now().toString());
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

  private static void send(ServerResponse res, int status, Object body) {
    res.status(status);
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(body));
  }
}
