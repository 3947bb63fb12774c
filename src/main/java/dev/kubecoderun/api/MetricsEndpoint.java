package dev.kubecoderun.api;

import dev.kubecoderun.metrics.Metrics;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.nio.charset.StandardCharsets;

/**
 * GET /metrics in the Prometheus text format: open with METRICS_PUBLIC=true, else the master key
 * (Prometheus sends it as a bearer token).
 */
final class MetricsEndpoint implements HttpService {
  private static final String CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

  private final Metrics metrics;
  private final MasterKey master;
  private final boolean open;

  MetricsEndpoint(Metrics metrics, MasterKey master, boolean open) {
    this.metrics = metrics;
    this.master = master;
    this.open = open;
  }

  @Override
  public void routing(HttpRules rules) {
    rules.get("/metrics", this::scrape);
  }

  private void scrape(ServerRequest req, ServerResponse res) {
    if (!open) {
      if (!master.enabled()) {
        throw new ApiError(
            404, "GET /metrics is off: set MASTER_API_KEY (or METRICS_PUBLIC=true) to serve it");
      }
      master.require(req);
    }
    res.header(HeaderNames.CONTENT_TYPE, CONTENT_TYPE);
    res.header(HeaderNames.CACHE_CONTROL, "no-store");
    res.send(metrics.scrape().getBytes(StandardCharsets.UTF_8));
  }
}
