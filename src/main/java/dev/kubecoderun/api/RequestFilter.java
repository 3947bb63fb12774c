package dev.kubecoderun.api;

import dev.kubecoderun.metrics.LogContext;
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
    res.header(ProfileFilter.EXECUTION_PROFILE, ProfileFilter.PROFILE);
    try {
      chain.proceed();
    } finally {
      Map<String, Object> fields = new LinkedHashMap<>();
      fields.put("method", req.prologue().method().text());
      fields.put("path", req.prologue().uriPath().path());
      fields.put("status", res.status().code());
      fields.put("duration_ms", Math.round((System.nanoTime() - start) / 1e5) / 10.0);
      ACCESS.log(Level.INFO, "request", fields);
      LogContext.clear();
    }
  }
}
