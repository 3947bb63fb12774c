package dev.kubecoderun.testing;

import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
import java.util.UUID;
import org.jose4j.jws.JsonWebSignature;
import org.jose4j.jwt.JwtClaims;
import org.jose4j.jwt.NumericDate;
import org.jose4j.lang.JoseException;

/**
 * Mints tokens as LibreChat's {@code packages/api/src/auth/codeapi.ts} does: header {@code {alg,
 * typ: "JWT", kid}}, claims iss, aud, sub, iat, nbf, exp (iat + 300), jti, tenant_id, role,
 * principal_source, auth_context_hash.
 */
public final class LibreChatTokens {
  public static final String KID = "lc-codeapi-2026-05";

  private final KeyPair keys;
  private final String alg;
  private final String kid;

  private LibreChatTokens(KeyPair keys, String alg, String kid) {
    this.keys = keys;
    this.alg = alg;
    this.kid = kid;
  }

  public static LibreChatTokens ed25519(String kid) {
    return new LibreChatTokens(generate("Ed25519", 0), "EdDSA", kid);
  }

  public static LibreChatTokens rsa(String kid) {
    return new LibreChatTokens(generate("RSA", 2048), "RS256", kid);
  }

  private static KeyPair generate(String algorithm, int bits) {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance(algorithm);
      if (bits > 0) {
        g.initialize(bits);
      }
      return g.generateKeyPair();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  public String kid() {
    return kid;
  }

  /** The public key as PEM (SPKI), what CODEAPI_JWT_PUBLIC_KEY holds. */
  public String publicPem() {
    String b64 =
        Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(keys.getPublic().getEncoded());
    return "-----BEGIN PUBLIC KEY-----\n" + b64 + "\n-----END PUBLIC KEY-----\n";
  }

  /** A JWKS of this key (with its kid), what CODEAPI_JWT_JWKS_JSON holds. */
  public String jwks(LibreChatTokens... others) {
    StringBuilder sb = new StringBuilder("{\"keys\":[").append(jwk());
    for (LibreChatTokens o : others) {
      sb.append(',').append(o.jwk());
    }
    return sb.append("]}").toString();
  }

  private String jwk() {
    try {
      org.jose4j.jwk.PublicJsonWebKey k =
          org.jose4j.jwk.PublicJsonWebKey.Factory.newPublicJwk(keys.getPublic());
      k.setKeyId(kid);
      return k.toJson();
    } catch (JoseException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A token of user {@code sub} in tenant {@code tenant} issued now, valid 300 s. */
  public String token(String tenant, String sub) {
    return token(Map.of("tenant_id", tenant, "sub", sub), Instant.now(), 300);
  }

  /**
   * A token with LibreChat's claims, {@code overrides} replacing or adding some (a null value
   * removes the claim); issued at {@code iat}, expiring {@code ttlSeconds} later.
   */
  public String token(Map<String, Object> overrides, Instant iat, long ttlSeconds) {
    return sign(overrides, iat, ttlSeconds, keys.getPrivate(), alg, kid);
  }

  /** {@code token} with its header replaced (the signature then no longer matches it). */
  public static String withHeader(String token, String headerJson) {
    String header =
        Base64.getUrlEncoder()
            .withoutPadding()
            .encodeToString(headerJson.getBytes(java.nio.charset.StandardCharsets.UTF_8));
    return header + token.substring(token.indexOf('.'));
  }

  private static String sign(
      Map<String, Object> overrides,
      Instant iat,
      long ttlSeconds,
      PrivateKey key,
      String alg,
      String kid) {
    JwtClaims claims = new JwtClaims();
    claims.setIssuer("librechat");
    claims.setAudience("codeapi");
    claims.setSubject("user_123");
    claims.setIssuedAt(NumericDate.fromSeconds(iat.getEpochSecond()));
    claims.setNotBefore(NumericDate.fromSeconds(iat.getEpochSecond()));
    claims.setExpirationTime(NumericDate.fromSeconds(iat.getEpochSecond() + ttlSeconds));
    claims.setJwtId(UUID.randomUUID().toString());
    claims.setClaim("tenant_id", "legacy");
    claims.setClaim("role", "USER");
    claims.setClaim("principal_source", "librechat_jwt");
    claims.setClaim("auth_context_hash", "0".repeat(64));
    overrides.forEach(
        (name, value) -> {
          if (value == null) {
            claims.unsetClaim(name);
          } else {
            claims.setClaim(name, value);
          }
        });
    JsonWebSignature jws = new JsonWebSignature();
    jws.setPayload(claims.toJson());
    jws.setKey(key);
    jws.setAlgorithmHeaderValue(alg);
    jws.setHeader("typ", "JWT");
    if (kid != null) {
      jws.setKeyIdHeaderValue(kid);
    }
    jws.setDoKeyValidation(false);
    try {
      return jws.getCompactSerialization();
    } catch (JoseException e) {
      throw new IllegalStateException(e);
    }
  }
}
