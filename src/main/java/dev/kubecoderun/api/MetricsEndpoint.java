package dev.kubecoderun.api;

import dev.kubecoderun.metrics.Metrics;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.nio.charset.StandardCharsets;

/**
 * GET /metrics in the Prometheus text format: open with METRICS_PUBLIC=true, else the metrics token
 * (METRICS_TOKEN: what Prometheus sends as a bearer token, good for nothing else) or the master key
 * (an operator's curl).
 */
final class MetricsEndpoint implements HttpService {
  private static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  private final Metrics metrics;
  // The metrics token and the master key.
  private final MasterKey keys;
  private final boolean open;

  MetricsEndpoint(Metrics metrics, MasterKey keys, boolean open) {
    this.metrics = metrics;
    this.keys = keys;
    this.open = open;
  }

  @Override
  public void routing(HttpRules rules) {
    rules.get("/metrics", this::scrape);
  }

  private void scrape(ServerRequest req, ServerResponse res) {
    if (!open && !keys.matches(req)) {
      if (!keys.enabled()) {
        throw new ApiError(
            404,
            "GET /metrics is off: set METRICS_TOKEN or MASTER_API_KEY (or METRICS_PUBLIC=true)");
      }
      throw HeaderCredential.of(req.headers()) == null
          ? new ApiError(
              401, "Metrics token or master key required (Authorization: Bearer, or X-API-Key)")
          : new ApiError(403, "Invalid metrics token");
    }
    res.header(HeaderNames.CONTENT_TYPE, CONTENT_TYPE);
    res.header(HeaderNames.CACHE_CONTROL, "no-store");
    res.send(metrics.scrape().getBytes(StandardCharsets.UTF_8));
  }
}
