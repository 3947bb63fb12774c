package dev.kubecoderun.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.Eventually;
import dev.kubecoderun.testing.LibreChatTokens;
import dev.kubecoderun.testing.MovingClock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LibreChat's tokens as its codeapi.ts mints them, and every way one is refused. */
class JwtVerifierTest {
  private static final LibreChatTokens ED = LibreChatTokens.ed25519(LibreChatTokens.KID);
  private static final LibreChatTokens RSA = LibreChatTokens.rsa("rsa-2026");
  private static final JwtVerifier.Settings SETTINGS =
      new JwtVerifier.Settings(
          "librechat",
          "codeapi",
          Set.of("EdDSA", "RS256"),
          Duration.ofSeconds(30),
          Duration.ofSeconds(300),
          "legacy",
          false);

  @TempDir Path dir;

  private static JwtKeys jwks(LibreChatTokens... tokens) {
    LibreChatTokens[] rest = java.util.Arrays.copyOfRange(tokens, 1, tokens.length);
    return JwtKeys.load(
        new JwtKeys.Sources(
            null, null, null, tokens[0].jwks(rest), null, null, Duration.ofSeconds(30)));
  }

  private static JwtVerifier verifier(JwtKeys keys) {
    return new JwtVerifier(SETTINGS, keys, Clock.systemUTC());
  }

  private static String reason(JwtVerifier v, String token) {
    return assertInstanceOf(JwtVerifier.Invalid.class, v.verify(token)).reason();
  }

  private static Map<String, Object> claims(Object... kv) {
    Map<String, Object> m = new HashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put((String) kv[i], kv[i + 1]);
    }
    return m;
  }

  @Test
  void anEd25519AndAnRs256TokenNameTheirTenantAndUser() {
    JwtVerifier v = verifier(jwks(ED, RSA));
    JwtVerifier.Valid ed =
        assertInstanceOf(JwtVerifier.Valid.class, v.verify(ED.token("acme", "u1")));
    assertEquals(Principal.jwt("acme", "u1"), ed.principal());
    assertEquals(Principal.Source.JWT, ed.principal().source());
    assertFalse(ed.principal().mayClaimLegacy());
    JwtVerifier.Valid rsa =
        assertInstanceOf(JwtVerifier.Valid.class, v.verify(RSA.token("acme", "u2")));
    assertEquals("jwt:acme/u2", rsa.principal().user());
    assertEquals("jwt:acme", rsa.principal().tenant());
  }

  @Test
  void aTokenIsAcceptedAgainWithinItsLifetime() {
    JwtVerifier v = verifier(jwks(ED));
    String token = ED.token("acme", "u1");
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token));
    assertInstanceOf(
        JwtVerifier.Valid.class, v.verify(token), "LibreChat reuses a token (same jti)");
  }

  /**
   * A remembered token is kept under its SHA-256 (64 hex digits), whatever its size: a valid token
   * may carry up to a header's 16 KiB of claims, and 10,000 of them were kept whole.
   */
  @Test
  void aTokenIsRememberedByItsDigestNotItself() {
    JwtVerifier v = verifier(jwks(ED));
    String token =
        ED.token(
            Map.of("tenant_id", "acme", "sub", "u1", "padding", "p".repeat(8_000)),
            Instant.now(),
            300);
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token));
    Set<String> keys = v.rememberedKeys();
    assertEquals(1, keys.size());
    String key = keys.iterator().next();
    assertTrue(key.matches("[0-9a-f]{64}"), key.length() + " characters");
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token), "found again by its digest");
    assertEquals(keys, v.rememberedKeys());
  }

  @Test
  void timesAreCheckedWithThirtySecondsOfSkew() {
    JwtVerifier v = verifier(jwks(ED));
    Instant now = Instant.now();
    assertEquals("expired", reason(v, ED.token(claims(), now.minusSeconds(331), 300)));
    assertInstanceOf(
        JwtVerifier.Valid.class,
        v.verify(ED.token(claims(), now.minusSeconds(320), 300)),
        "within skew");
    assertEquals(
        "not_yet_valid", reason(v, ED.token(claims("nbf", now.getEpochSecond() + 60), now, 300)));
    assertEquals(
        "future_iat",
        reason(v, ED.token(claims("nbf", now.getEpochSecond()), now.plusSeconds(45), 200)));
    assertInstanceOf(
        JwtVerifier.Valid.class,
        v.verify(ED.token(claims("nbf", now.getEpochSecond()), now.plusSeconds(20), 200)));
    assertEquals("ttl_too_long", reason(v, ED.token(claims(), now, 301)));
    assertEquals("malformed_claims", reason(v, ED.token(claims("iat", null), now, 300)));
    assertEquals("malformed_claims", reason(v, ED.token(claims("exp", null), now, 300)));
  }

  @Test
  void aRememberedTokenStillExpiresWithThirtySecondsOfSkew() {
    Instant issued = Instant.now().minusSeconds(600);
    MovingClock clock = new MovingClock(issued);
    JwtVerifier v = new JwtVerifier(SETTINGS, jwks(ED), clock);
    String token = ED.token(claims(), issued, 60);
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token));
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token), "again: remembered");
    assertEquals(1, v.rememberedCount());
    clock.set(issued.plusSeconds(60 + 29));
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token), "expired, within the skew");
    clock.set(issued.plusSeconds(60 + 30));
    assertEquals("expired", reason(v, token));
    assertEquals(0, v.rememberedCount(), "forgotten once expired");
  }

  @Test
  void atMostSoManyTokensAreRememberedTheExpiredOnesGoFirst() {
    Instant issued = Instant.now().minusSeconds(600);
    MovingClock clock = new MovingClock(issued);
    JwtVerifier v = new JwtVerifier(SETTINGS, jwks(ED), clock, 2);
    for (int i = 0; i < 7; i++) {
      assertInstanceOf(
          JwtVerifier.Valid.class, v.verify(ED.token(claims("sub", "u" + i), issued, 60)));
    }
    assertEquals(2, v.rememberedCount());
    assertEquals(0, v.scans(), "none of the two remembered had expired: nothing to look for");
    clock.set(issued.plusSeconds(100));
    String later = ED.token(claims("sub", "late"), issued.plusSeconds(100), 60);
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(later));
    assertEquals(1, v.scans(), "once they may have expired, one scan makes room");
    assertEquals(1, v.rememberedCount(), "the expired two made room");
    JwtVerifier.Valid again = assertInstanceOf(JwtVerifier.Valid.class, v.verify(later));
    assertEquals(Principal.jwt("legacy", "late"), again.principal());
  }

  @Test
  void issuerAudienceAndClaimsMustMatch() {
    JwtVerifier v = verifier(jwks(ED));
    Instant now = Instant.now();
    assertEquals("wrong_issuer", reason(v, ED.token(claims("iss", "other"), now, 300)));
    assertEquals("wrong_audience", reason(v, ED.token(claims("aud", "other-api"), now, 300)));
    assertInstanceOf(
        JwtVerifier.Valid.class,
        v.verify(ED.token(claims("aud", java.util.List.of("account", "codeapi")), now, 300)));
    assertEquals("malformed_claims", reason(v, ED.token(claims("sub", null), now, 300)));
    assertEquals("malformed_claims", reason(v, ED.token(claims("tenant_id", ""), now, 300)));
    JwtVerifier.Valid noTenant =
        assertInstanceOf(
            JwtVerifier.Valid.class, v.verify(ED.token(claims("tenant_id", null), now, 300)));
    assertEquals("jwt:legacy", noTenant.principal().tenant(), "the single tenant");
    JwtVerifier strict =
        new JwtVerifier(
            new JwtVerifier.Settings(
                "librechat",
                "codeapi",
                Set.of("EdDSA"),
                Duration.ofSeconds(30),
                Duration.ofSeconds(300),
                "legacy",
                true),
            jwks(ED),
            Clock.systemUTC());
    assertEquals("malformed_claims", reason(strict, ED.token(claims("tenant_id", null), now, 300)));
  }

  @Test
  void signatureKeyAndAlgorithmAreChecked() {
    JwtVerifier v = verifier(jwks(ED, RSA));
    String good = ED.token("acme", "u1");
    String[] parts = good.split("\\.");
    byte[] sig = Base64.getUrlDecoder().decode(parts[2]);
    sig[0] ^= 0x01;
    String tampered =
        parts[0]
            + "."
            + parts[1]
            + "."
            + Base64.getUrlEncoder().withoutPadding().encodeToString(sig);
    assertEquals("bad_signature", reason(v, tampered));
    LibreChatTokens stranger = LibreChatTokens.ed25519(LibreChatTokens.KID);
    assertEquals("bad_signature", reason(v, stranger.token("acme", "u1")), "same kid, other key");
    assertEquals(
        "unknown_kid", reason(v, LibreChatTokens.ed25519("rotated-away").token("acme", "u1")));
    assertEquals(
        "wrong_alg",
        reason(
            v,
            LibreChatTokens.withHeader(
                good,
                "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"" + LibreChatTokens.KID + "\"}")));
    assertEquals(
        "wrong_alg",
        reason(
            v,
            LibreChatTokens.withHeader(
                good,
                "{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"" + LibreChatTokens.KID + "\"}")));
    assertEquals(
        "wrong_alg",
        reason(
            v,
            LibreChatTokens.withHeader(
                good,
                "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"" + LibreChatTokens.KID + "\"}")),
        "an Ed25519 key never checks an RS256 signature");
    assertEquals("malformed", reason(v, "eyJhbGciOiJFZERTQSJ9.not-json.x"));
    JwtVerifier edOnly =
        new JwtVerifier(
            new JwtVerifier.Settings(
                "librechat",
                "codeapi",
                Set.of("EdDSA"),
                Duration.ofSeconds(30),
                Duration.ofSeconds(300),
                "legacy",
                false),
            jwks(ED, RSA),
            Clock.systemUTC());
    assertEquals("wrong_alg", reason(edOnly, RSA.token("acme", "u1")), "CODEAPI_JWT_ALLOWED_ALGS");
  }

  @Test
  void reasonsNeverContainKeyMaterial() {
    JwtVerifier v = verifier(jwks(ED));
    JwtVerifier.Invalid bad =
        assertInstanceOf(JwtVerifier.Invalid.class, v.verify(RSA.token("a", "b")));
    String pem = ED.publicPem();
    String body = pem.substring(pem.indexOf('\n') + 1, pem.indexOf('\n') + 20);
    assertFalse(bad.message().contains(body));
    assertFalse(bad.message().contains("MII"));
  }

  @Test
  void keysComeFromAPemABase64PemAJwksFileOrAKeyDirectory() throws Exception {
    JwtKeys pem =
        JwtKeys.load(
            new JwtKeys.Sources(
                ED.publicPem(), null, null, null, null, null, Duration.ofSeconds(30)));
    assertInstanceOf(
        JwtVerifier.Valid.class,
        verifier(pem).verify(ED.token("t", "u")),
        "a PEM key has no kid: any");
    String escaped = ED.publicPem().replace("\n", "\\n");
    JwtKeys named =
        JwtKeys.load(
            new JwtKeys.Sources(
                escaped, null, "other-kid", null, null, null, Duration.ofSeconds(30)));
    assertEquals("unknown_kid", reason(verifier(named), ED.token("t", "u")));
    String b64 =
        Base64.getEncoder().encodeToString(RSA.publicPem().getBytes(StandardCharsets.UTF_8));
    JwtKeys base64 =
        JwtKeys.load(
            new JwtKeys.Sources(null, b64, "rsa-2026", null, null, null, Duration.ofSeconds(30)));
    assertInstanceOf(JwtVerifier.Valid.class, verifier(base64).verify(RSA.token("t", "u")));

    Path file = dir.resolve("jwks.json");
    Files.writeString(file, ED.jwks(RSA));
    JwtKeys fromFile =
        JwtKeys.load(
            new JwtKeys.Sources(null, null, null, null, file, null, Duration.ofSeconds(1)));
    assertInstanceOf(JwtVerifier.Valid.class, verifier(fromFile).verify(RSA.token("t", "u")));

    Path keysDir = Files.createDirectory(dir.resolve("keys"));
    Files.writeString(keysDir.resolve(LibreChatTokens.KID + ".pem"), ED.publicPem());
    JwtKeys fromDir =
        JwtKeys.load(
            new JwtKeys.Sources(null, null, null, null, null, keysDir, Duration.ofSeconds(1)));
    JwtVerifier dirVerifier = verifier(fromDir);
    assertInstanceOf(JwtVerifier.Valid.class, dirVerifier.verify(ED.token("t", "u")));
    // Rotation: a new key file is read after the reload period, without a restart.
    LibreChatTokens next = LibreChatTokens.ed25519("lc-codeapi-2026-06");
    Files.writeString(keysDir.resolve("lc-codeapi-2026-06.pem"), next.publicPem());
    Eventually.await(
        "the rotated key",
        Duration.ofSeconds(10),
        () -> dirVerifier.verify(next.token("t", "u")) instanceof JwtVerifier.Valid);
    assertInstanceOf(
        JwtVerifier.Valid.class, dirVerifier.verify(ED.token("t", "u")), "the old key too");
  }

  @Test
  void aKeyFileThatBreaksKeepsTheKeysThatWorked() throws Exception {
    Path file = dir.resolve("jwks.json");
    Files.writeString(file, ED.jwks());
    // Reloaded before every check: each verify below reads the file as it is then.
    JwtVerifier v =
        verifier(
            JwtKeys.load(new JwtKeys.Sources(null, null, null, null, file, null, Duration.ZERO)));
    String token = ED.token("t", "u");
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token));
    Files.writeString(file, "{\"keys\": [");
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token), "not JSON: the previous keys");
    Files.writeString(file, "{\"keys\": []}");
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token), "no key: the previous keys");
    Files.delete(file);
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token), "gone: the previous keys");
    // The file is really read again: once it names other keys only, the old kid is unknown.
    Files.writeString(file, RSA.jwks());
    assertEquals("unknown_kid", reason(v, token), "a removed key refuses its remembered tokens");
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(RSA.token("t", "u")));
    // Another key under the same kid: the tokens of the old one are refused, remembered or not.
    Files.writeString(file, ED.jwks());
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(token));
    Files.writeString(file, LibreChatTokens.ed25519(LibreChatTokens.KID).jwks());
    assertEquals("bad_signature", reason(v, token));

    Path keysDir = Files.createDirectory(dir.resolve("keys"));
    Path pem = keysDir.resolve(LibreChatTokens.KID + ".pem");
    Files.writeString(pem, ED.publicPem());
    JwtVerifier fromDir =
        verifier(
            JwtKeys.load(
                new JwtKeys.Sources(null, null, null, null, null, keysDir, Duration.ZERO)));
    Files.writeString(pem, "-----BEGIN PUBLIC KEY-----\nnot base64!\n-----END PUBLIC KEY-----");
    assertInstanceOf(
        JwtVerifier.Valid.class, fromDir.verify(token), "a bad PEM: the previous keys");
  }

  /**
   * A key removed from the directory is gone at the next reload even when another file breaks at
   * the same time: the broken file does not bring back the keys as they were.
   */
  @Test
  void aKeyRemovedWhileAnotherFileBreaksIsGone() throws Exception {
    Path keysDir = Files.createDirectory(dir.resolve("rotating"));
    LibreChatTokens other = LibreChatTokens.ed25519("other-2026");
    Files.writeString(keysDir.resolve(LibreChatTokens.KID + ".pem"), ED.publicPem());
    Files.writeString(keysDir.resolve("other-2026.pem"), other.publicPem());
    JwtVerifier v =
        verifier(
            JwtKeys.load(
                new JwtKeys.Sources(null, null, null, null, null, keysDir, Duration.ZERO)));
    String revoked = ED.token("t", "u");
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(revoked));

    Files.delete(keysDir.resolve(LibreChatTokens.KID + ".pem"));
    Files.writeString(keysDir.resolve("new.pem"), "not a key");

    assertEquals("unknown_kid", reason(v, revoked), "the removed key, remembered token or not");
    assertInstanceOf(JwtVerifier.Valid.class, v.verify(other.token("t", "u")), "the other key");
  }

  @Test
  void aJwksFileOrKeyDirectoryThatCannotBeUsedFailsTheStartNamingTheSetting() throws Exception {
    Path missing = dir.resolve("missing.json");
    Path notJwks = Files.writeString(dir.resolve("bad.json"), "{\"keys\": 5}");
    Path emptyJwks = Files.writeString(dir.resolve("empty.json"), "{\"keys\": []}");
    Map<Path, String> files =
        Map.of(
            missing, "CODEAPI_JWT_JWKS_FILE",
            notJwks, "CODEAPI_JWT_JWKS_FILE",
            emptyJwks, "no JWT verification key");
    files.forEach(
        (f, expected) -> {
          IllegalArgumentException e =
              assertThrows(
                  IllegalArgumentException.class,
                  () ->
                      JwtKeys.load(
                          new JwtKeys.Sources(
                              null, null, null, null, f, null, Duration.ofSeconds(30))));
          assertTrue(e.getMessage().contains(expected), f + ": " + e.getMessage());
        });
    Path privateKey = Files.createDirectory(dir.resolve("private"));
    Files.writeString(
        privateKey.resolve("k.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----");
    for (Path d : List.of(missing, notJwks, privateKey)) {
      IllegalArgumentException e =
          assertThrows(
              IllegalArgumentException.class,
              () ->
                  JwtKeys.load(
                      new JwtKeys.Sources(
                          null, null, null, null, null, d, Duration.ofSeconds(30))));
      assertTrue(e.getMessage().contains("CODEAPI_JWT_PUBLIC_KEYS_DIR"), d + ": " + e.getMessage());
    }
  }

  @Test
  void unusableKeysFailTheStartNamingTheSetting() {
    IllegalArgumentException notPem =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                JwtKeys.load(
                    new JwtKeys.Sources(
                        "not a key", null, null, null, null, null, Duration.ofSeconds(30))));
    assertTrue(notPem.getMessage().contains("CODEAPI_JWT_PUBLIC_KEY"), notPem.getMessage());
    IllegalArgumentException notJwks =
        assertThrows(
            IllegalArgumentException.class,
            () ->
                JwtKeys.load(
                    new JwtKeys.Sources(
                        null, null, null, "{\"keys\": 5}", null, null, Duration.ofSeconds(30))));
    assertTrue(notJwks.getMessage().contains("CODEAPI_JWT_JWKS_JSON"), notJwks.getMessage());
    String ec;
    try {
      var g = java.security.KeyPairGenerator.getInstance("EC");
      g.initialize(256);
      ec =
          "-----BEGIN PUBLIC KEY-----\n"
              + Base64.getEncoder().encodeToString(g.generateKeyPair().getPublic().getEncoded())
              + "\n-----END PUBLIC KEY-----";
    } catch (java.security.GeneralSecurityException e) {
      throw new AssertionError(e);
    }
    String ecPem = ec;
    assertThrows(
        IllegalArgumentException.class,
        () ->
            JwtKeys.load(
                new JwtKeys.Sources(ecPem, null, null, null, null, null, Duration.ofSeconds(30))));
  }
}
