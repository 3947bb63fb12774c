package dev.kubecoderun.auth;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;

/**
 * Who a request acts for: the owner of what it creates and of what it may see. An API key (from
 * API_KEY/API_KEYS or a managed key) is one principal and its own tenant, named by the SHA-256 of
 * the key (a managed key's id). A LibreChat JWT is the user {@code sub} of the tenant {@code
 * tenant_id}. {@link #user()} and {@link #tenant()} are what the stores record; they never contain
 * a key.
 */
public record Principal(Source source, String tenant, String user) {
  /** How the principal authenticated. */
  public enum Source {
    API_KEY,
    JWT,
    /** AUTH_ENABLED=false: every request is this one principal. */
    ANONYMOUS
  }

  public static final Principal ANONYMOUS = new Principal(Source.ANONYMOUS, "anon", "anon");

  /** The principal of an API key, env or managed: {@code key:<sha256 hex of the key>}. */
  public static Principal apiKey(String key) {
    return ofKeyHash(ManagedApiKeys.sha256Hex(key));
  }

  /** The principal of the key whose SHA-256 (a managed key's id) is {@code keyHash}. */
  public static Principal ofKeyHash(String keyHash) {
    String id = "key:" + keyHash;
    return new Principal(Source.API_KEY, id, id);
  }

  /**
   * A LibreChat user: {@code jwt:<tenant>} and {@code jwt:<tenant>/<sub>}, both percent-encoded.
   */
  public static Principal jwt(String tenantId, String subject) {
    String tenant = "jwt:" + encode(tenantId);
    return new Principal(Source.JWT, tenant, tenant + "/" + encode(subject));
  }

  /**
   * Records written before owners were recorded belong to the API keys of that time. A JWT user
   * never wrote any, so only an API key (or the anonymous principal) may take one over.
   */
  public boolean mayClaimLegacy() {
    return source != Source.JWT;
  }

  /** 16 hex characters naming the principal in counters and logs (never the key itself). */
  public String shortId() {
    if (source == Source.API_KEY) {
      return user.substring(4, 20);
    }
    return ManagedApiKeys.sha256Hex(user).substring(0, 16);
  }

  private static String encode(String s) {
    return URLEncoder.encode(s, StandardCharsets.UTF_8);
  }
}
