package dev.kubecoderun.api;

import dev.kubecoderun.auth.Authenticator;
import dev.kubecoderun.auth.ClientAddress;
import dev.kubecoderun.auth.CredentialThrottle;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.auth.RateLimiter;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.memory.PaidRead;
import dev.kubecoderun.metrics.Metrics;
import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import io.helidon.webserver.http.ServerRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Semaphore;

/**
 * Authentication on every route but health/readiness, CORS preflights and the routes of the master
 * key ({@link MasterKey#ownsAuth}, which no principal reaches): finds the credential (X-API-Key,
 * Authorization Bearer or ApiKey, or for a JSON body without either, a key field in the body), lets
 * the {@link Authenticator} name the {@link Principal}, and puts it in the request context for the
 * handlers. Every response to a principal with rate limits carries the RateLimit-* (draft 6) and
 * X-RateLimit-* headers. An API key goes through the {@link CredentialThrottle} of the client's
 * address ({@link ClientAddress}): one that failed too many is answered 429 without its key being
 * looked up.
 */
final class AuthFilter implements Filter {
  private static final Set<String> OPEN_PATHS = Set.of("/health", "/ready");

  /**
   * A key in the body is looked for in the first MiB only (as the Python version): an
   * unauthenticated client cannot make the server hold more than that.
   */
  static final int MAX_UNAUTHENTICATED_BODY = 1 << 20;

  private final Authenticator authenticator;
  private final CredentialThrottle throttle;
  private final ClientAddress clients;
  private final Metrics metrics;
  private final long maxJsonBytes;
  // Requests reading their body for a key before anyone is authenticated. A client that trickles
  // such a body holds a request slot (MAX_CONCURRENT_REQUESTS) for as long as it likes: these few
  // slots are all clients without a credential can hold at once; past them, 503 at once.
  private final Semaphore bodyScans;

  // How long such a body may take to arrive, whole (IDLE_CONNECTION_TIMEOUT_SECONDS).
  private final Duration bodyDeadline;

  /**
   * {@code maxConcurrentRequests}: an eighth of it (at least 2) may scan a body at once; {@code
   * bodyDeadline}: for the whole of what one scan reads.
   */
  AuthFilter(
      Authenticator authenticator,
      CredentialThrottle throttle,
      ClientAddress clients,
      Metrics metrics,
      long maxJsonBytes,
      int maxConcurrentRequests,
      Duration bodyDeadline) {
    this.authenticator = authenticator;
    this.throttle = throttle;
    this.clients = clients;
    this.metrics = metrics;
    this.maxJsonBytes = maxJsonBytes;
    this.bodyScans = new Semaphore(Math.max(2, maxConcurrentRequests / 8));
    this.bodyDeadline = bodyDeadline;
  }

  @Override
  public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
    String path = Routes.withoutVersion(req.prologue().uriPath().path());
    if (OPEN_PATHS.contains(path)
        || MasterKey.ownsAuth(path)
        || req.prologue().method() == Method.OPTIONS) {
      chain.proceed();
      return;
    }
    try {
      Authenticator.Outcome outcome = authenticate(req);
      switch (outcome) {
        case Authenticator.Allowed a -> {
          req.context().register(a.principal());
          if (a.rate() != null) {
            rateHeaders(
                res,
                a.rate().limit(),
                a.rate().remaining(),
                a.rate().resetAt(),
                a.rate().window().label());
          }
        }
        case Authenticator.Denied d ->
            throw new ApiError(
                    401,
                    "authentication",
                    d.message(),
                    List.of(new ApiError.Detail("credentials", d.message(), d.reason())))
                .header("WWW-Authenticate", "Bearer");
        case Authenticator.Unavailable u -> throw ApiError.unavailable(u.message(), 2);
        case Authenticator.Limited l -> throw rateLimited(res, l.limit());
      }
    } catch (ApiError e) {
      ErrorResponses.send(req, res, e);
      return;
    } catch (MemoryBudgetExhaustedException e) {
      ErrorResponses.send(req, res, DomainErrors.of(e));
      return;
    }
    chain.proceed();
  }

  private Authenticator.Outcome authenticate(RoutingRequest req) {
    HeaderCredential sent = HeaderCredential.of(req.headers());
    if (sent != null) {
      return check(req, sent.value(), sent.from());
    }
    // A body may only carry an API key: where keys are refused, it is not read for one; nor is a
    // chunked one, which Helidon would buffer a chunk at a time, whatever the chunk's size.
    if (authenticator.acceptsKeys() && hasJsonBody(req) && !Bodies.chunked(req)) {
      if (!bodyScans.tryAcquire()) {
        throw ApiError.unavailable(
            "Too many requests without a credential header are being read at once; send the key"
                + " in X-API-Key or Authorization",
            1);
      }
      try {
        return check(req, bodyKey(req), Authenticator.From.BODY);
      } finally {
        bodyScans.release();
      }
    }
    return authenticator.authenticate(null, null);
  }

  /**
   * Authenticates a credential; an API key (what can be guessed, and costs a key-store read) only
   * when its address may still try one, and its outcome is counted for the address.
   */
  private Authenticator.Outcome check(
      RoutingRequest req, String credential, Authenticator.From from) {
    if (credential == null
        || credential.isEmpty()
        || !authenticator.checksAsKey(credential, from)) {
      return authenticator.authenticate(credential, from);
    }
    InetAddress address = clientAddress(clients, req);
    Duration wait = throttle.attempt(address, credential);
    if (wait != null) {
      metrics.credentialThrottled("api");
      throw ApiError.tooManyFailedCredentials(wait);
    }
    Authenticator.Outcome outcome = authenticator.authenticate(credential, from);
    switch (outcome) {
      case Authenticator.Allowed a -> throttle.accepted(credential);
      case Authenticator.Limited l -> throttle.accepted(credential);
      case Authenticator.Denied d -> throttle.failed(address, credential);
      case Authenticator.Unavailable u -> {} // nothing was decided about the key
    }
    return outcome;
  }

  /**
   * The address the request came from: the connection's, or behind a trusted proxy the client its
   * X-Forwarded-For names. Null when the connection has no IP address.
   */
  static InetAddress clientAddress(ClientAddress clients, ServerRequest req) {
    InetAddress connection =
        req.remotePeer().address() instanceof InetSocketAddress a ? a.getAddress() : null;
    return clients.of(connection, req.headers().all(HeaderNames.X_FORWARDED_FOR, List::of));
  }

  /**
   * Reads at most {@link #MAX_UNAUTHENTICATED_BODY} of the body; a larger one carries no key we
   * look at. The bytes read are kept for the handler.
   */
  private String bodyKey(RoutingRequest req) {
    int max = (int) Math.min(maxJsonBytes, MAX_UNAUTHENTICATED_BODY);
    MemoryBudget.Held held = RequestMemory.of(req);
    long reserved = held.reserve(max + 1L);
    byte[] bytes;
    try (ReadDeadline deadline = new ReadDeadline(bodyDeadline)) {
      try {
        InputStream in = Bodies.open(req, null); // the whole read has its deadline
        bytes = in.readNBytes(max + 1);
      } catch (IOException | RuntimeException e) {
        if (deadline.passed()) {
          throw new ApiError(
              408,
              "The request body did not arrive within "
                  + bodyDeadline.toSeconds()
                  + " s; send the key in X-API-Key or Authorization");
        }
        throw e instanceof IOException io ? new UncheckedIOException(io) : (RuntimeException) e;
      }
    }
    if (bytes.length > max) {
      throw new ApiError(
          401,
          "authentication",
          "Missing API key: a key in the body is only read from bodies of at most "
              + max
              + " bytes; send it in X-API-Key or Authorization",
          List.of(
              new ApiError.Detail(
                  "credentials", "no credentials in the headers", "missing_credentials")));
    }
    held.giveBack(reserved - bytes.length);
    req.context().register(new JsonBody(PaidRead.of(bytes), held));
    return BodyCredential.find(bytes);
  }

  private static boolean hasJsonBody(RoutingRequest req) {
    Method m = req.prologue().method();
    if (m != Method.POST && m != Method.PUT && m != Method.PATCH) {
      return false;
    }
    return req.headers()
        .first(HeaderNames.CONTENT_TYPE)
        .map(ct -> ct.toLowerCase(Locale.ROOT).startsWith("application/json"))
        .orElse(false);
  }

  /**
   * 429 in the one error shape with {@code error: "rate_limited"} and {@code retry_after_seconds}
   * (what LibreChat reads), Retry-After, and the rate-limit headers.
   */
  private static ApiError rateLimited(RoutingResponse res, RateLimiter.Limited l) {
    long retryAfter = secondsUntil(l.resetAt());
    String message =
        "Rate limit exceeded for "
            + l.window().label()
            + ". Limit: "
            + l.limit()
            + ", Used: "
            + l.used();
    ApiError e =
        new ApiError(
                429,
                "rate_limited",
                "rate_limited",
                List.of(new ApiError.Detail(null, message, "rate_limited")))
            .extra("retry_after_seconds", retryAfter)
            .header("Retry-After", Long.toString(retryAfter));
    rateHeaders(res, l.limit(), 0, l.resetAt(), l.window().label());
    return e;
  }

  /** RateLimit-* (draft-ietf-httpapi-ratelimit-headers-06: Reset in seconds) and X-RateLimit-*. */
  private static void rateHeaders(
      RoutingResponse res, long limit, long remaining, Instant resetAt, String period) {
    long reset = secondsUntil(resetAt);
    res.header("RateLimit-Limit", Long.toString(limit));
    res.header("RateLimit-Remaining", Long.toString(remaining));
    res.header("RateLimit-Reset", Long.toString(reset));
    res.header("X-RateLimit-Limit", Long.toString(limit));
    res.header("X-RateLimit-Remaining", Long.toString(remaining));
    res.header("X-RateLimit-Reset", Long.toString(resetAt.getEpochSecond()));
    res.header("X-RateLimit-Period", period);
  }

  private static long secondsUntil(Instant t) {
    return Math.max(1, (Duration.between(Instant.now(), t).toMillis() + 999) / 1000);
  }
}
