package dev.kubecoderun.api;

import dev.kubecoderun.auth.Authenticator;
import dev.kubecoderun.auth.ClientAddress;
import dev.kubecoderun.auth.CredentialThrottle;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.execution.ConflictingInputsException;
import dev.kubecoderun.execution.ExecutionUnavailableException;
import dev.kubecoderun.execution.InputsTooLargeException;
import dev.kubecoderun.execution.TooManyRunsException;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.SessionBusyException;
import dev.kubecoderun.session.SessionNotFoundException;
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

  /**
   * What the routes are built from; assembled by the wiring class. {@code auth} is null when
   * AUTH_ENABLED=false: every request then acts as the anonymous principal.
   */
  public record Endpoints(List<HttpService> services, AuthSettings auth, Metrics metrics) {}

  /**
   * Authentication as configured; {@code throttle} counts the failed API keys of each address as
   * {@code clients} derives it (both shared with the master key's routes).
   */
  public record AuthSettings(
      Authenticator authenticator,
      CredentialThrottle throttle,
      ClientAddress clients,
      long maxJsonBytes) {}

  /**
   * @param memory what all requests and runs together may hold buffered at once, shared with the
   *     execution service
   */
  public static WebServer start(
      Config.Server settings, long largestBodyBytes, MemoryBudget memory, Endpoints endpoints) {
    Routes routes = Routes.of(endpoints.services());
    HttpRouting.Builder routing =
        HttpRouting.builder()
            .addFilter(
                new RequestFilter(
                    endpoints.metrics(),
                    routes,
                    memory,
                    new Bodies.Limits(
                        settings.idleConnectionTimeout(), settings.requestBodyMinRate())));
    if (endpoints.auth() != null) {
      routing.addFilter(
          new AuthFilter(
              endpoints.auth().authenticator(),
              endpoints.auth().throttle(),
              endpoints.auth().clients(),
              endpoints.metrics(),
              endpoints.auth().maxJsonBytes(),
              settings.maxConcurrentRequests(),
              settings.idleConnectionTimeout()));
    } else {
      routing.addFilter(Principals.anonymous());
    }
    routing.addFilter(new ProfileFilter());
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
        TooManyRunsException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(
        SessionNotFoundException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(
        ExecutionUnavailableException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(
        ConflictingInputsException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(
        InputsTooLargeException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(
        MemoryBudgetExhaustedException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    routing.error(
        UncheckedIOException.class,
        (req, res, e) -> ErrorResponses.send(req, res, DomainErrors.of(e)));
    // A client that closed its connection in the middle of its body: nothing went wrong here, and
    // a stack trace per such client would let anyone flood the log.
    routing.error(
        io.helidon.common.buffers.DataReader.InsufficientDataAvailableException.class,
        (req, res, e) ->
            ErrorResponses.send(
                req, res, ApiError.badRequest("Request body ended early", "body", "truncated")));
    routing.error(Throwable.class, ErrorResponses::sendUnexpected);

    return WebServer.builder()
        .host(settings.host())
        .port(settings.port())
        // Bounds on what clients can hold: connections (each a virtual thread and buffers),
        // requests in progress (more get 503 at once), and connections left idle.
        .maxTcpConnections(settings.maxConnections())
        .maxConcurrentRequests(settings.maxConcurrentRequests())
        .idleConnectionTimeout(settings.idleConnectionTimeout())
        .idleConnectionPeriod(idleCheckPeriod(settings.idleConnectionTimeout()))
        // ... which looks only at connections waiting for a request line: the headers after one
        // have as long, or the connection is closed. This HTTP/1.1 configuration (Helidon's
        // defaults and the listener) replaces the one found as a service, not beside it.
        .protocolsDiscoverServices(false)
        .addProtocol(
            io.helidon.webserver.http1.Http1Config.builder()
                .addReceiveListener(new HeaderDeadline(settings.idleConnectionTimeout()))
                .build())
        // Handlers refuse a body over its own limit and drain what is left (up to DRAIN_LIMIT), so
        // the client reads a clean 413. Helidon's hard ceiling sits above that: a body it refuses
        // is
        // not drained, and a client still sending may see a reset connection instead of the answer.
        .maxPayloadSize(largestBodyBytes + Bodies.DRAIN_LIMIT)
        // Small responses must not wait for the client's delayed ACK (Nagle's algorithm).
        .connectionOptions(
            io.helidon.common.socket.SocketOptions.builder().tcpNoDelay(true).build())
        .shutdownGracePeriod(settings.shutdownGrace())
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

  /**
   * Idle connections are looked for often enough that one lives at most about 1.25 × the timeout.
   */
  static Duration idleCheckPeriod(Duration timeout) {
    Duration quarter = timeout.dividedBy(4);
    return quarter.compareTo(Duration.ofSeconds(1)) < 0 ? Duration.ofSeconds(1) : quarter;
  }

  /** Errors Helidon answers before routing (malformed HTTP, oversized body) get our shape too. */
  private static DirectHandler.TransportResponse direct(
      DirectHandler.TransportRequest req,
      DirectHandler.EventType type,
      io.helidon.http.Status status,
      io.helidon.http.ServerResponseHeaders headers,
      String message) {
    int code = status.code();
    // Helidon reports a body over its ceiling as a BAD_REQUEST event with status 413, no message.
    String text =
        switch (type) {
          case PAYLOAD_TOO_LARGE -> "Request body too large";
          case BAD_REQUEST ->
              switch (code) {
                case 413 -> "Request body too large";
                case 414 -> "Request URI too long";
                case 431 -> "Request header fields too large";
                default -> message == null ? "Bad request" : "Bad request: " + message;
              };
          default ->
              switch (code) {
                case 503 ->
                    "Too many requests in progress (MAX_CONCURRENT_REQUESTS); retry shortly";
                // Plain nginx talks HTTP/1.0 to its upstreams unless told otherwise.
                case 505 ->
                    "HTTP version not supported: this server speaks HTTP/1.1 (behind nginx, set"
                        + " proxy_http_version 1.1)";
                default -> code >= 500 ? "An unexpected error occurred" : message;
              };
        };
    String id = Ids.next();
    if (code == 503) {
      headers.set(HeaderNames.RETRY_AFTER, "1");
    }
    headers.contentType(MediaTypes.APPLICATION_JSON);
    headers.set(HeaderNames.create("X-Request-ID"), id);
    return DirectHandler.TransportResponse.builder()
        .status(status)
        .headers(headers)
        .entity(ErrorResponses.body(new ApiError(code, text), id))
        .build();
  }
}
