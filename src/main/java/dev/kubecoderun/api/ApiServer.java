package dev.kubecoderun.api;

import dev.kubecoderun.execution.ExecutionUnavailableException;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.SessionBusyException;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.DirectHandler;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.HttpService;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;

/** The HTTP server: filters, every route at the root and under /v1, and the error shape. */
public final class ApiServer {
  private ApiServer() {}

  /** What the routes are built from; assembled by the wiring class. */
  public record Endpoints(List<HttpService> services, AuthSettings auth, Metrics metrics) {}

  /** Authentication as configured: the key check, or none when AUTH_ENABLED=false. */
  public record AuthSettings(dev.kubecoderun.auth.ApiKeyValidator keys, long maxJsonBytes) {}

  public static WebServer start(
      String host, int port, long largestBodyBytes, Duration shutdownGrace, Endpoints endpoints) {
    Routes routes = Routes.of(endpoints.services());
    HttpRouting.Builder routing =
        HttpRouting.builder().addFilter(new RequestFilter(endpoints.metrics(), routes));
    if (endpoints.auth() != null) {
      routing.addFilter(new AuthFilter(endpoints.auth().keys(), endpoints.auth().maxJsonBytes()));
    }
    for (HttpService s : endpoints.services()) {
      routing.register("/", s);
      routing.register("/v1", s);
    }
    routing.any(
        (req, res) ->
            ErrorResponses.send(
                req,
                res,
                routes.unmatched(req.prologue().method(), req.prologue().uriPath().path())));
    routing.error(ApiError.class, ErrorResponses::send);
    routing.error(
        SessionBusyException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(
        ExecutionUnavailableException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(
        UncheckedIOException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(Throwable.class, ErrorResponses::sendUnexpected);

    return WebServer.builder()
        .host(host)
        .port(port)
        // Handlers refuse a body over its own limit and drain what is left (up to DRAIN_LIMIT), so
        // the
        // client reads a clean 413. Helidon's hard ceiling sits above that: a body it refuses is
        // not drained, and a client still sending may see a reset connection instead of the answer.
        .maxPayloadSize(largestBodyBytes + Bodies.DRAIN_LIMIT)
        // Small responses must not wait for the client's delayed ACK (Nagle's algorithm).
        .connectionOptions(
            io.helidon.common.socket.SocketOptions.builder().tcpNoDelay(true).build())
        .shutdownGracePeriod(shutdownGrace)
        .shutdownHook(false)
        .directHandlers(
            d -> {
              for (DirectHandler.EventType t : DirectHandler.EventType.values()) {
                d.addHandler(t, ApiServer::direct);
              }
            })
        .routing(routing)
        .build()
        .start();
  }

  /** Errors Helidon answers before routing (malformed HTTP, oversized body) get our shape too. */
  private static DirectHandler.TransportResponse direct(
      DirectHandler.TransportRequest req,
      DirectHandler.EventType type,
      io.helidon.http.Status status,
      io.helidon.http.ServerResponseHeaders headers,
      String message) {
    int code = status.code();
    String text =
        switch (type) {
          case PAYLOAD_TOO_LARGE -> "Request body too large";
          case BAD_REQUEST -> "Bad request: " + message;
          default -> code >= 500 ? "An unexpected error occurred" : message;
        };
    String id = Ids.next();
    headers.contentType(MediaTypes.APPLICATION_JSON);
    headers.set(HeaderNames.create("X-Request-ID"), id);
    return DirectHandler.TransportResponse.builder()
        .status(status)
        .headers(headers)
        .entity(ErrorResponses.body(new ApiError(code, text), id))
        .build();
  }
}
