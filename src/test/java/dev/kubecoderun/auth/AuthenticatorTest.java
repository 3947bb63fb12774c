package dev.kubecoderun.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.kubecoderun.testing.LibreChatTokens;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** CODEAPI_AUTH_PROVIDER: which credentials each mode accepts, and as which principal. */
class AuthenticatorTest {
  private static final String KEY = "an-env-key-0123456789";
  private static final LibreChatTokens TOKENS = LibreChatTokens.ed25519(LibreChatTokens.KID);

  private static Authenticator authenticator(Authenticator.Mode mode) {
    return authenticator(mode, new LocalApiKeyStore(Clock.systemUTC()), Map.of());
  }

  private static Authenticator authenticator(
      Authenticator.Mode mode, ApiKeyStore store, Map<RateWindow, Long> jwtLimits) {
    JwtVerifier jwts =
        new JwtVerifier(
            new JwtVerifier.Settings(
                "librechat",
                "codeapi",
                Set.of("EdDSA", "RS256"),
                Duration.ofSeconds(30),
                Duration.ofSeconds(300),
                "legacy",
                false),
            JwtKeys.load(
                new JwtKeys.Sources(
                    null, null, null, TOKENS.jwks(), null, null, Duration.ofSeconds(30))),
            Clock.systemUTC());
    return new Authenticator(
        mode,
        new ManagedApiKeys(new EnvApiKeys(List.of(KEY)), store, true, Clock.systemUTC()),
        jwts,
        new RateLimiter(store, Clock.systemUTC()),
        jwtLimits);
  }

  private static String denied(Authenticator a, String credential, Authenticator.From from) {
    return assertInstanceOf(Authenticator.Denied.class, a.authenticate(credential, from)).reason();
  }

  private static Principal allowed(Authenticator a, String credential, Authenticator.From from) {
    return assertInstanceOf(Authenticator.Allowed.class, a.authenticate(credential, from))
        .principal();
  }

  @Test
  void bothAcceptsKeysAnywhereAndBearerJwts() {
    Authenticator a = authenticator(Authenticator.Mode.BOTH);
    String jwt = TOKENS.token("acme", "u1");
    assertEquals(Principal.jwt("acme", "u1"), allowed(a, jwt, Authenticator.From.BEARER));
    assertEquals(Principal.apiKey(KEY), allowed(a, KEY, Authenticator.From.BEARER));
    assertEquals(Principal.apiKey(KEY), allowed(a, KEY, Authenticator.From.KEY_HEADER));
    assertEquals(Principal.apiKey(KEY), allowed(a, KEY, Authenticator.From.BODY));
    assertEquals("invalid_api_key", denied(a, jwt, Authenticator.From.KEY_HEADER));
    assertEquals("missing_credentials", denied(a, null, null));
  }

  @Test
  void librechatJwtRefusesApiKeys() {
    Authenticator a = authenticator(Authenticator.Mode.LIBRECHAT_JWT);
    assertEquals(
        Principal.jwt("acme", "u1"),
        allowed(a, TOKENS.token("acme", "u1"), Authenticator.From.BEARER));
    assertEquals("api_key_not_accepted", denied(a, KEY, Authenticator.From.KEY_HEADER));
    assertEquals("api_key_not_accepted", denied(a, KEY, Authenticator.From.BEARER));
    assertEquals("api_key_not_accepted", denied(a, KEY, Authenticator.From.BODY));
  }

  @Test
  void legacyApiKeyTakesEveryBearerValueForAKey() {
    Authenticator a = authenticator(Authenticator.Mode.LEGACY_API_KEY);
    assertEquals(Principal.apiKey(KEY), allowed(a, KEY, Authenticator.From.BEARER));
    assertEquals(
        "invalid_api_key", denied(a, TOKENS.token("acme", "u1"), Authenticator.From.BEARER));
  }

  @Test
  void principalsOfKeysAreTheirHashesAndNeverTheKey() {
    Principal p = Principal.apiKey(KEY);
    assertEquals("key:" + ManagedApiKeys.sha256Hex(KEY), p.user());
    assertEquals(p.user(), p.tenant());
    assertEquals(16, p.shortId().length());
    assertEquals(Principal.ofKeyHash(ManagedApiKeys.sha256Hex(KEY)), p, "a managed key's id");
    Principal odd = Principal.jwt("a/b:c", "d/e");
    assertEquals("jwt:a%2Fb%3Ac/d%2Fe", odd.user(), "no tenant can pose as another's user");
  }

  @Test
  void whileTheKeyStoreIsDownOnlyWhatNeedsItGets503() {
    Authenticator a =
        authenticator(
            Authenticator.Mode.BOTH, new DownApiKeyStore(), Map.of(RateWindow.MINUTE, 60L));
    String jwt = TOKENS.token("acme", "u1");
    assertEquals(
        "rate limit store unavailable; retry shortly",
        assertInstanceOf(
                Authenticator.Unavailable.class, a.authenticate(jwt, Authenticator.From.BEARER))
            .message(),
        "a rate-limited JWT user is counted in the store");
    assertInstanceOf(
        Authenticator.Unavailable.class,
        a.authenticate("sk-managed-0123456789abcdef", Authenticator.From.KEY_HEADER),
        "a managed key is looked up in the store");
    assertEquals(Principal.apiKey(KEY), allowed(a, KEY, Authenticator.From.KEY_HEADER));
    Authenticator unlimited =
        authenticator(Authenticator.Mode.BOTH, new DownApiKeyStore(), Map.of());
    assertEquals(Principal.jwt("acme", "u1"), allowed(unlimited, jwt, Authenticator.From.BEARER));
    assertEquals(
        "bad_signature",
        denied(
            unlimited,
            LibreChatTokens.ed25519(LibreChatTokens.KID).token("acme", "u1"),
            Authenticator.From.BEARER),
        "a bad token is refused before any store is asked");
  }
}
