package dev.kubecoderun.auth;

import dev.kubecoderun.common.Sha256;
import java.security.Key;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.jose4j.jwa.AlgorithmConstraints;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.MalformedClaimException;
import org.jose4j.jwt.NumericDate;
import org.jose4j.jwt.consumer.ErrorCodes;
import org.jose4j.jwt.consumer.InvalidJwtException;
import org.jose4j.jwt.consumer.JwtConsumer;
import org.jose4j.jwt.consumer.JwtConsumerBuilder;
import org.jose4j.jwt.consumer.JwtContext;
import org.jose4j.lang.UnresolvableKeyException;

/**
 * Checks the short-lived tokens LibreChat mints for its code API ({@code
 * packages/api/src/auth/codeapi.ts}): EdDSA (Ed25519) or RS256 only, signed by a configured key (by
 * {@code kid}), {@code iss} and {@code aud} as configured, {@code exp}/{@code nbf}/{@code iat}
 * within the clock skew, {@code exp - iat} at most the maximum lifetime. A {@code jti} may repeat:
 * LibreChat reuses a token for up to 30 s. The principal is {@code tenant_id} + {@code sub}; a
 * token without {@code tenant_id} belongs to the single tenant, unless strict tenancy requires one.
 * The reasons given back name what failed, never a key.
 *
 * <p>A valid token is remembered (by its SHA-256) until it expires: LibreChat sends the same token
 * for up to 30 s, and its signature check (Ed25519 in the JDK) is the dearest step of a request's
 * authentication. A remembered token is accepted only while the key that verified it is still the
 * one its kid names, so a key removed from the configured ones refuses its tokens from the next key
 * re-read.
 */
public final class JwtVerifier {
  /** What a token must satisfy. */
  public record Settings(
      String issuer,
      String audience,
      Set<String> allowedAlgorithms,
      Duration clockSkew,
      Duration maxLifetime,
      String singleTenantId,
      boolean strictTenant) {}

  /** The outcome of one token. */
  public sealed interface Result {}

  /** A valid token of this principal. */
  public record Valid(Principal principal) implements Result {}

  /** Not valid; {@code reason} is a short code (expired, bad_signature, ...). */
  public record Invalid(String reason, String message) implements Result {}

  /** How many valid tokens are remembered at most; LibreChat mints one per user per 30 s. */
  static final int MAX_REMEMBERED = 10_000;

  /** A valid token's principal, its {@code exp}, and the key (of {@code kid}) that verified it. */
  private record Verified(Principal principal, long exp, String kid, Key key) {}

  private final Settings settings;
  private final JwtKeys keys;
  private final Clock clock;
  private final int maxRemembered;
  private final Map<String, Verified> remembered = new ConcurrentHashMap<>();
  // The earliest exp of a remembered token, or earlier (a race may leave it low, which only costs a
  // scan): while it is still ahead, no remembered token has expired and a full map is not scanned.
  private final AtomicLong earliestExp = new AtomicLong(Long.MAX_VALUE);
  private final AtomicLong scans = new AtomicLong();

  public JwtVerifier(Settings settings, JwtKeys keys, Clock clock) {
    this(settings, keys, clock, MAX_REMEMBERED);
  }

  JwtVerifier(Settings settings, JwtKeys keys, Clock clock, int maxRemembered) {
    this.settings = settings;
    this.keys = keys;
    this.clock = clock;
    this.maxRemembered = maxRemembered;
  }

  /** True when {@code token} looks like a compact JWS (three segments, a JSON header). */
  public static boolean looksLikeJwt(String token) {
    return token.startsWith("eyJ") && token.chars().filter(c -> c == '.').count() == 2;
  }

  public Result verify(String token) {
    long skew = settings.clockSkew().toSeconds();
    long now = clock.millis() / 1000;
    // Remembered by its digest: a token may be 16 KiB (the largest header), 10,000 of them 160 MiB.
    String digest = Sha256.hex(token);
    Verified known = remembered.get(digest);
    if (known != null) {
      // Expired as jose4j counts it; a key re-read may have dropped or replaced the token's key.
      if (now - skew < known.exp() && known.key().equals(keys.find(known.kid()))) {
        return new Valid(known.principal());
      }
      remembered.remove(digest);
    }
    return check(token, digest, now, skew);
  }

  /**
   * Keeps a valid token; when {@link #maxRemembered} are kept, the expired ones go first, and if
   * none has expired this one is not kept (it is verified again next time). A full map is scanned
   * only once one of its tokens may have expired: a scan per new token of a full map of live ones
   * cost every request {@link #MAX_REMEMBERED} steps.
   */
  private void remember(String digest, Verified verified, long expiredBefore) {
    if (remembered.size() >= maxRemembered) {
      if (earliestExp.get() > expiredBefore) {
        return;
      }
      scans.incrementAndGet();
      remembered.values().removeIf(v -> v.exp() <= expiredBefore);
      earliestExp.set(
          remembered.values().stream().mapToLong(Verified::exp).min().orElse(Long.MAX_VALUE));
      if (remembered.size() >= maxRemembered) {
        return;
      }
    }
    remembered.put(digest, verified);
    earliestExp.accumulateAndGet(verified.exp(), Math::min);
  }

  /** How often a full map was scanned for expired tokens (tests). */
  long scans() {
    return scans.get();
  }

  /** What the remembered tokens are kept under (tests). */
  Set<String> rememberedKeys() {
    return Set.copyOf(remembered.keySet());
  }

  /** How many tokens are remembered now (tests). */
  int rememberedCount() {
    return remembered.size();
  }

  /** The full check of a token that is not remembered ({@code digest}: its SHA-256). */
  private Result check(String token, String digest, long now, long skew) {
    Key[] usedKey = new Key[1];
    JwtConsumer consumer =
        new JwtConsumerBuilder()
            .setEvaluationTime(NumericDate.fromSeconds(now))
            .setAllowedClockSkewInSeconds((int) skew)
            .setRequireExpirationTime()
            .setRequireIssuedAt()
            .setRequireSubject()
            .setExpectedIssuer(settings.issuer())
            .setExpectedAudience(settings.audience())
            .setJwsAlgorithmConstraints(
                AlgorithmConstraints.ConstraintType.PERMIT,
                settings.allowedAlgorithms().toArray(String[]::new))
            .setVerificationKeyResolver(
                (jws, nested) -> usedKey[0] = key(jws.getKeyIdHeaderValue()))
            .build();
    JwtClaims claims;
    String kid;
    try {
      JwtContext context = consumer.process(token);
      claims = context.getJwtClaims();
      kid = context.getJoseObjects().getFirst().getKeyIdHeaderValue();
    } catch (InvalidJwtException e) {
      return invalid(e);
    }
    try {
      long iat = claims.getIssuedAt().getValue();
      long exp = claims.getExpirationTime().getValue();
      if (iat > now + skew) {
        return new Invalid("future_iat", "token issued in the future");
      }
      if (exp <= iat) {
        return new Invalid("malformed_claims", "token expires before it was issued");
      }
      if (exp - iat > settings.maxLifetime().toSeconds()) {
        return new Invalid(
            "ttl_too_long",
            "token lifetime exceeds " + settings.maxLifetime().toSeconds() + " seconds");
      }
      String sub = claims.getSubject();
      if (sub == null || sub.isBlank()) {
        return new Invalid("malformed_claims", "token has no subject");
      }
      Object tenantClaim = claims.getClaimValue("tenant_id");
      String tenant;
      if (tenantClaim == null) {
        if (settings.strictTenant()) {
          return new Invalid("malformed_claims", "token has no tenant_id");
        }
        tenant = settings.singleTenantId();
      } else if (tenantClaim instanceof String t && !t.isBlank()) {
        tenant = t;
      } else {
        return new Invalid("malformed_claims", "tenant_id must be a non-empty string");
      }
      Principal principal = Principal.jwt(tenant, sub);
      remember(digest, new Verified(principal, exp, kid, usedKey[0]), now - skew);
      return new Valid(principal);
    } catch (MalformedClaimException e) {
      return new Invalid("malformed_claims", "a registered claim has the wrong type");
    }
  }

  private Key key(String kid) throws UnresolvableKeyException {
    Key key = keys.find(kid);
    if (key == null) {
      throw new UnresolvableKeyException("unknown kid");
    }
    return key;
  }

  private static Invalid invalid(InvalidJwtException e) {
    if (e.hasExpired()) {
      return new Invalid("expired", "token expired");
    }
    if (e.hasErrorCode(ErrorCodes.NOT_YET_VALID)) {
      return new Invalid("not_yet_valid", "token not yet valid");
    }
    if (e.hasErrorCode(ErrorCodes.AUDIENCE_INVALID)
        || e.hasErrorCode(ErrorCodes.AUDIENCE_MISSING)) {
      return new Invalid("wrong_audience", "token audience not accepted");
    }
    if (e.hasErrorCode(ErrorCodes.ISSUER_INVALID) || e.hasErrorCode(ErrorCodes.ISSUER_MISSING)) {
      return new Invalid("wrong_issuer", "token issuer not trusted");
    }
    if (e.hasErrorCode(ErrorCodes.SIGNATURE_INVALID)) {
      return new Invalid("bad_signature", "token signature invalid");
    }
    for (Throwable t = e.getCause(); t != null; t = t.getCause()) {
      if (t instanceof UnresolvableKeyException) {
        return new Invalid("unknown_kid", "token key id (kid) not configured");
      }
      if (t instanceof org.jose4j.lang.InvalidAlgorithmException) {
        return new Invalid("wrong_alg", "token algorithm not allowed");
      }
      if (t instanceof org.jose4j.lang.InvalidKeyException) {
        return new Invalid("wrong_alg", "token algorithm does not match its key");
      }
    }
    if (e.hasErrorCode(ErrorCodes.EXPIRATION_MISSING)
        || e.hasErrorCode(ErrorCodes.ISSUED_AT_MISSING)
        || e.hasErrorCode(ErrorCodes.SUBJECT_MISSING)
        || e.hasErrorCode(ErrorCodes.MALFORMED_CLAIM)) {
      return new Invalid("malformed_claims", "token lacks exp, iat or sub");
    }
    return new Invalid("malformed", "token is not a valid JWT");
  }

  /** The algorithms LibreChat signs with; HS256 and the rest are refused. */
  public static final List<String> SUPPORTED_ALGORITHMS = List.of("EdDSA", "RS256");
}
