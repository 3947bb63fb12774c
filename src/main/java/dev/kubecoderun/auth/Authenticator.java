package dev.kubecoderun.auth;

import java.io.UncheckedIOException;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Logger;

/**
 * Turns a request's credential into a {@link Principal}, then counts it against its rate limits.
 * CODEAPI_AUTH_PROVIDER picks what is accepted: LibreChat's JWTs ({@code librechat-jwt}), API keys
 * ({@code legacy-api-key}), or both, where a Bearer value that looks like a JWT is checked as one
 * and anything else as an API key.
 */
public final class Authenticator {
  private static final Logger LOG = Logger.getLogger(Authenticator.class.getName());

  /** CODEAPI_AUTH_PROVIDER. */
  public enum Mode {
    LIBRECHAT_JWT("librechat-jwt"),
    BOTH("both"),
    LEGACY_API_KEY("legacy-api-key");

    private final String setting;

    Mode(String setting) {
      this.setting = setting;
    }

    public String setting() {
      return setting;
    }

    /** The mode named {@code value}, or null. */
    public static Mode parse(String value) {
      for (Mode m : values()) {
        if (m.setting.equals(value.toLowerCase(Locale.ROOT))) {
          return m;
        }
      }
      return null;
    }

    boolean acceptsKeys() {
      return this != LIBRECHAT_JWT;
    }

    boolean acceptsJwts() {
      return this != LEGACY_API_KEY;
    }
  }

  /** Where a credential was found. */
  public enum From {
    /** X-API-Key, or Authorization: ApiKey. */
    KEY_HEADER,
    /** Authorization: Bearer. */
    BEARER,
    /** A field of a JSON body (LIBRECHAT_CODE_API_KEY, api_key, apiKey). */
    BODY
  }

  /** The outcome of one request. */
  public sealed interface Outcome {}

  /** Authenticated; {@code rate} is null when the principal has no limits. */
  public record Allowed(Principal principal, RateLimiter.Status rate) implements Outcome {}

  /** 401; {@code reason} is a short code (missing_credentials, invalid_api_key, expired, ...). */
  public record Denied(String reason, String message) implements Outcome {}

  /** 429. */
  public record Limited(Principal principal, RateLimiter.Limited limit) implements Outcome {}

  /** A store could not be asked: 503, the client retries. */
  public record Unavailable(String message) implements Outcome {}

  private final Mode mode;
  private final ApiKeyValidator keys;
  private final JwtVerifier jwts;
  private final RateLimiter limiter;
  private final Map<RateWindow, Long> jwtLimits;

  /**
   * {@code keys} is unused in librechat-jwt mode and {@code jwts} in legacy-api-key mode (either
   * may then be null). {@code jwtLimits} applies to every JWT principal; API keys bring their own.
   */
  public Authenticator(
      Mode mode,
      ApiKeyValidator keys,
      JwtVerifier jwts,
      RateLimiter limiter,
      Map<RateWindow, Long> jwtLimits) {
    this.mode = mode;
    this.keys = keys;
    this.jwts = jwts;
    this.limiter = limiter;
    this.jwtLimits = Map.copyOf(jwtLimits);
  }

  /** Whether an API key (the only credential a JSON body may carry) can be accepted at all. */
  public boolean acceptsKeys() {
    return mode.acceptsKeys();
  }

  /**
   * Whether {@link #authenticate} checks {@code credential} as an API key: a secret that can be
   * guessed, and whose check may read the key store. A LibreChat token is signed (nothing to guess)
   * and checked here alone; a key where keys are not accepted is refused unchecked.
   */
  public boolean checksAsKey(String credential, From from) {
    return mode.acceptsKeys() && !isJwt(credential, from);
  }

  private boolean isJwt(String credential, From from) {
    return from == From.BEARER && mode.acceptsJwts() && JwtVerifier.looksLikeJwt(credential);
  }

  /** {@code credential} null: the request carried none. */
  public Outcome authenticate(String credential, From from) {
    if (credential == null || credential.isEmpty()) {
      return new Denied(
          "missing_credentials",
          mode == Mode.LIBRECHAT_JWT
              ? "Missing bearer token"
              : mode == Mode.BOTH ? "Missing API key or bearer token" : "Missing API key");
    }
    if (isJwt(credential, from)) {
      return switch (jwts.verify(credential)) {
        case JwtVerifier.Valid v -> limit(v.principal(), jwtLimits);
        case JwtVerifier.Invalid i -> {
          LOG.fine("JWT refused: " + i.reason());
          yield new Denied(i.reason(), "Invalid bearer token: " + i.message());
        }
      };
    }
    if (!mode.acceptsKeys()) {
      return new Denied(
          "api_key_not_accepted",
          "API keys are not accepted here (CODEAPI_AUTH_PROVIDER=librechat-jwt): send a LibreChat"
              + " bearer token");
    }
    return switch (keys.check(credential)) {
      case ApiKeyValidator.Accepted a -> limit(Principal.ofKeyHash(a.keyHash()), a.limits());
      case ApiKeyValidator.Rejected r -> new Denied("invalid_api_key", r.message());
      case ApiKeyValidator.Unavailable u -> new Unavailable(u.message());
    };
  }

  private Outcome limit(Principal principal, Map<RateWindow, Long> limits) {
    try {
      return switch (limiter.consume(principal, limits)) {
        case RateLimiter.Within w -> new Allowed(principal, w.status());
        case RateLimiter.Limited l -> new Limited(principal, l);
      };
    } catch (UncheckedIOException e) {
      LOG.warning("rate limit counters unavailable: " + e.getMessage());
      return new Unavailable("rate limit store unavailable; retry shortly");
    }
  }
}
