package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.auth.ApiKeyValidator;
import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import java.util.Locale;
import java.util.Set;

/**
 * API-key check on every route but health/readiness and CORS preflights. The key comes from
 * X-API-Key, from Authorization (Bearer or ApiKey), or, for JSON bodies, from the body fields newer
 * LibreChat clients spread into their requests.
 */
final class AuthFilter implements Filter {
  private static final io.helidon.http.HeaderName X_API_KEY = HeaderNames.create("X-API-Key");
  private static final Set<String> OPEN_PATHS = Set.of("/health", "/ready");
  private static final String[] BODY_FIELDS = {"LIBRECHAT_CODE_API_KEY", "api_key", "apiKey"};

  private final ApiKeyValidator keys;
  private final long maxJsonBytes;

  AuthFilter(ApiKeyValidator keys, long maxJsonBytes) {
    this.keys = keys;
    this.maxJsonBytes = maxJsonBytes;
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
      String key = fromHeaders(req);
      if (key == null && hasJsonBody(req)) {
        key = fromBody(JsonBody.read(req, maxJsonBytes));
      }
      if (key == null) {
        throw new ApiError(401, "Missing API key");
      }
      switch (keys.check(key)) {
        case ApiKeyValidator.Accepted a -> req.context().register(new Caller(a.keyHash()));
        case ApiKeyValidator.Rejected r -> throw new ApiError(401, r.message());
        case ApiKeyValidator.Unavailable u -> throw ApiError.unavailable(u.message(), 2);
        case ApiKeyValidator.Limited l -> throw rateLimited(l);
      }
    } catch (ApiError e) {
      ErrorResponses.send(req, res, e);
      return;
    }
    chain.proceed();
  }

  /** 429 with Retry-After and the X-RateLimit-* headers the Python version computed but dropped. */
  private static ApiError rateLimited(ApiKeyValidator.Limited l) {
    long retryAfter =
        Math.max(1, java.time.Duration.between(java.time.Instant.now(), l.resetAt()).toSeconds());
    return new ApiError(
            429,
            "Rate limit exceeded for "
                + l.window().label()
                + ". Limit: "
                + l.limit()
                + ", Used: "
                + l.used())
        .header("Retry-After", Long.toString(retryAfter))
        .header("X-RateLimit-Limit", Long.toString(l.limit()))
        .header("X-RateLimit-Remaining", Long.toString(Math.max(0, l.limit() - l.used())))
        .header("X-RateLimit-Reset", Long.toString(l.resetAt().getEpochSecond()))
        .header("X-RateLimit-Period", l.window().label());
  }

  private static String fromHeaders(RoutingRequest req) {
    String key = req.headers().first(X_API_KEY).orElse(null);
    if (key != null && !key.isEmpty()) {
      return key;
    }
    String auth = req.headers().first(HeaderNames.AUTHORIZATION).orElse(null);
    if (auth != null) {
      if (auth.startsWith("Bearer ")) {
        return auth.substring(7).trim();
      }
      if (auth.startsWith("ApiKey ")) {
        return auth.substring(7).trim();
      }
    }
    return null;
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

  private static String fromBody(JsonBody body) {
    JsonNode tree;
    try {
      tree = body.tree();
    } catch (ApiError e) {
      return null; // the handler reports the bad body after auth fails with 401
    }
    for (String field : BODY_FIELDS) {
      JsonNode v = tree.path(field);
      if (v.isTextual() && !v.asText().isBlank()) {
        return v.asText().trim();
      }
    }
    return null;
  }
}
