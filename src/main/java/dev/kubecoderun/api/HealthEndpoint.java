package dev.kubecoderun.api;

import dev.kubecoderun.common.Json;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * /health (alive), /ready (taking work: not draining, the backend ready) and /health/detailed (each
 * dependency).
 */
final class HealthEndpoint implements HttpService {
  private final String version;
  private final Supplier<String> notReady;
  private final HealthReports reports;
  private final boolean detailsForEveryKey;

  /**
   * {@code detailsForEveryKey}: every caller sees each service's details; otherwise (a master key
   * is set) only its status, and the operator reads the details in the admin API's stats. Details
   * name internal hosts, store errors and which addresses a sandbox reached.
   */
  HealthEndpoint(
      String version,
      Supplier<String> notReady,
      HealthReports reports,
      boolean detailsForEveryKey) {
    this.version = version;
    this.notReady = notReady;
    this.reports = reports;
    this.detailsForEveryKey = detailsForEveryKey;
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
    String why = notReady.get();
    if (why != null) {
      throw ApiError.unavailable("Not ready: " + why, 5);
    }
    send(res, 200, Map.of("status", "ready"));
  }

  private void detailed(ServerRequest req, ServerResponse res) {
    // As the reference (a FastAPI bool): use_cache=false asks for checks run after the request
    // came.
    boolean useCache =
        switch (req.query().first("use_cache").orElse("true").toLowerCase(Locale.ROOT)) {
          case "true", "1", "yes", "on" -> true;
          case "false", "0", "no", "off" -> false;
          default ->
              throw ApiError.validation("use_cache", "use_cache must be true or false", "bool");
        };
    Map<String, Object> body = reports.report(useCache);
    if (!detailsForEveryKey) {
      body = withoutDetails(body);
    }
    // 200 either way: every non-2xx of the API carries the error shape, and this is a report.
    res.header("X-Health-Status", (String) body.get("status"));
    send(res, 200, body);
  }

  /** The report with each service's name, status and response time only. */
  @SuppressWarnings("unchecked")
  static Map<String, Object> withoutDetails(Map<String, Object> report) {
    Map<String, Object> services = new LinkedHashMap<>();
    ((Map<String, Object>) report.get("services"))
        .forEach(
            (name, service) -> {
              Map<String, Object> s = new LinkedHashMap<>((Map<String, Object>) service);
              s.remove("details");
              services.put(name, s);
            });
    Map<String, Object> out = new LinkedHashMap<>(report);
    out.put("services", services);
    return out;
  }

  private static void send(ServerResponse res, int status, Object body) {
    res.status(status);
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(body));
  }
}
