package dev.kubecoderun.api;

import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.metrics.LogContext;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.session.Ids;
import io.helidon.http.HeaderValues;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import java.io.IOException;
import java.io.InputStream;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * First on every request: gives it a request id (response header and log context) and its holding
 * of the memory budget, adds the security headers, and writes one access log line when it is done.
 */
final class RequestFilter implements Filter {
  private static final Logger ACCESS = Logger.getLogger("dev.kubecoderun.access");

  private final Metrics metrics;
  private final Routes routes;
  private final MemoryBudget memory;
  private final Bodies.Limits bodyLimits;

  /** {@code bodyLimits}: how long a request body may take (the idle timeout, a minimum rate). */
  RequestFilter(Metrics metrics, Routes routes, MemoryBudget memory, Bodies.Limits bodyLimits) {
    this.metrics = metrics;
    this.routes = routes;
    this.memory = memory;
    this.bodyLimits = bodyLimits;
  }

  @Override
  public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
    String id = Ids.next();
    req.context().register(new RequestId(id));
    MemoryBudget.Held held = memory.hold();
    req.context().register(held);
    req.context().register(bodyLimits);
    LogContext.set(id);
    long start = System.nanoTime();
    res.header("X-Request-ID", id);
    res.header("X-Content-Type-Options", "nosniff");
    res.header("X-Frame-Options", "DENY");
    res.header("Referrer-Policy", "no-referrer");
    res.header(ProfileFilter.EXECUTION_PROFILE, ProfileFilter.PROFILE);
    try {
      chain.proceed();
    } catch (CloseConnectionException e) {
      // A body that stopped arriving (Bodies): closed without an answer; logged as a timeout.
      // (One arriving too slowly is answered 408 while the connection can still carry it.)
      if (!res.isSent()) {
        res.status(io.helidon.http.Status.REQUEST_TIMEOUT_408);
      }
      throw e;
    } finally {
      held.releaseAll(); // the answer has been sent: what was buffered for it is garbage
      long nanos = System.nanoTime() - start;
      Map<String, Object> fields = new LinkedHashMap<>();
      fields.put("method", req.prologue().method().text());
      fields.put("path", req.prologue().uriPath().path());
      fields.put("status", res.status().code());
      fields.put("duration_ms", Math.round(nanos / 1e5) / 10.0);
      metrics.request(
          req.prologue().method().text(),
          route(req.prologue().method(), req.prologue().uriPath().path()),
          res.status().code(),
          nanos);
      ACCESS.log(Level.INFO, "request", fields);
      LogContext.clear();
    }
    // An answer with "Connection: close" (the client asked for it, or the body's framing is lost)
    // skips what is left of a body the handler did not read (a 404, a 405, a 401 answered before
    // it), yet Helidon reads on from the connection: that rest would be taken for the client's next
    // request, one no proxy in front has seen (its path rules, its X-Forwarded-For). So close.
    // Likewise a body announced with "Expect: 100-continue" and answered without being read.
    if (res.isSent()
        && (req.headers().containsToken(HeaderValues.CONNECTION_CLOSE)
            || res.headers().containsToken(HeaderValues.CONNECTION_CLOSE)
            || Bodies.expectedButUnread(req))) {
      throw new CloseConnectionException("the connection cannot go on after this answer");
    }
    // A body the answer left unread (a 401, 404 or 405 answered before it; a 413 past DRAIN_LIMIT)
    // Helidon reads to its end before the next request, with no limit of time while it holds the
    // request's slot: a client (no key needed) trickling it would hold the slot for ever. It is
    // read here instead, as any body is (Bodies), up to DRAIN_LIMIT and for at most the idle
    // timeout in all; what is left then ends the connection.
    if (res.isSent() && !req.content().consumed() && !drained(req)) {
      throw new CloseConnectionException("the rest of the request body was not read");
    }
  }

  /**
   * Whether what is left of the request's body could be read to its end, within bounds. A chunked
   * rest is not read: its next chunk, whatever size its client names, would be buffered whole.
   */
  private boolean drained(RoutingRequest req) {
    if (Bodies.chunked(req)) {
      return false;
    }
    try (ReadDeadline deadline = new ReadDeadline(bodyLimits.idle());
        InputStream in = Bodies.open(req)) {
      Bodies.drain(in);
      return req.content().consumed() && !deadline.passed();
    } catch (IOException | RuntimeException e) {
      return false; // already opened by the handler, broken, stalled, or the deadline passed
    }
  }

  /**
   * The template of the route that takes the request ("/files/{session_id}"), the same with or
   * without the /v1 prefix, also when a filter answered first (401, 429); "unmatched" for a path no
   * route has: the label's values stay few.
   */
  private String route(io.helidon.http.Method method, String path) {
    String t = routes.template(method, path);
    return t == null ? "unmatched" : t;
  }
}
