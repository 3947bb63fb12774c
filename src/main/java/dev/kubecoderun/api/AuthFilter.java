package dev.kubecoderun.api;

import dev.kubecoderun.auth.Authenticator;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.auth.RateLimiter;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
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
 * X-RateLimit-* headers.
 */
final class AuthFilter implements Filter {
  private static final Set<String> OPEN_PATHS = Set.of("/health", "/ready");

  /**
   * A key in the body is looked for in the first MiB only (as the Python version): an
   * unauthenticated client cannot make the server hold more than that.
   */
  static final int MAX_UNAUTHENTICATED_BODY = 1 << 20;

  private final Authenticator authenticator;
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
      long maxJsonBytes,
      int maxConcurrentRequests,
      Duration bodyDeadline) {
    this.authenticator = authenticator;
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
      return authenticator.authenticate(sent.value(), sent.from());
    }
    // A body may only carry an API key: where keys are refused, it is not read for one.
    if (authenticator.acceptsKeys() && hasJsonBody(req)) {
      if (!bodyScans.tryAcquire()) {
        throw ApiError.unavailable(
            "Too many requests without a credential header are being read at once; send the key"
                + " in X-API-Key or Authorization",
            1);
      }
      try {
        return authenticator.authenticate(bodyKey(req), Authenticator.From.BODY);
      } finally {
        bodyScans.release();
      }
    }
    return authenticator.authenticate(null, null);
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
        InputStream in = req.content().inputStream();
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
    req.context().register(new JsonBody(bytes, held));
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
