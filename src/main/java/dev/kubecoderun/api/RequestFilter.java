package dev.kubecoderun.api;

import dev.kubecoderun.metrics.LogContext;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.session.Ids;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * First on every request: gives it a request id (response header and log context), adds the
 * security headers, and writes one access log line when it is done.
 */
final class RequestFilter implements Filter {
  private static final Logger ACCESS = Logger.getLogger("dev.kubecoderun.access");

  private final Metrics metrics;

  RequestFilter(Metrics metrics) {
    this.metrics = metrics;
  }

  @Override
  public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
    String id = Ids.next();
    req.context().register(new RequestId(id));
    LogContext.set(id);
    long start = System.nanoTime();
    res.header("X-Request-ID", id);
    res.header("X-Content-Type-Options", "nosniff");
    res.header("X-Frame-Options", "DENY");
    res.header("Referrer-Policy", "no-referrer");
    try {
      chain.proceed();
    } finally {
      long nanos = System.nanoTime() - start;
      Map<String, Object> fields = new LinkedHashMap<>();
      fields.put("method", req.prologue().method().text());
      fields.put("path", req.prologue().uriPath().path());
      fields.put("status", res.status().code());
      fields.put("duration_ms", Math.round(nanos / 1e5) / 10.0);
      metrics.request(req.prologue().method().text(), route(req), res.status().code(), nanos);
      ACCESS.log(Level.INFO, "request", fields);
      LogContext.clear();
    }
  }

  /**
   * The template of the route that answered ("/files/{session_id}"), the same with or without the
   * /v1 prefix; "unmatched" for a path no route has: the label's values stay few.
   */
  private static String route(RoutingRequest req) {
    String pattern = req.matchingPattern().orElse(null);
    if (pattern == null || pattern.isEmpty() || pattern.equals("/*") || pattern.equals("*")) {
      return "unmatched";
    }
    return Routes.withoutVersion(pattern);
  }
}
