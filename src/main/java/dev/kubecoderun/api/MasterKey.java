package dev.kubecoderun.api;

import io.helidon.webserver.http.ServerRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * The operator's key (MASTER_API_KEY): the only key the admin API, the dashboard's data and
 * /metrics accept, in {@code X-API-Key} or {@code Authorization: Bearer} (or {@code ApiKey}). API
 * keys never reach these routes (the API-key filter lets them through to this check), and this key
 * is no API key. The metrics token (METRICS_TOKEN) is checked by the same code: a key that opens
 * GET /metrics and nothing else.
 */
final class MasterKey {
  /** Paths that do their own authentication (this key), or need none (the API description). */
  static boolean ownsAuth(String path) {
    return path.equals("/metrics")
        || path.startsWith("/api/v1/admin/")
        || path.equals("/api/v1/admin")
        || path.equals("/admin-dashboard")
        || path.startsWith("/admin-dashboard/")
        || path.equals("/openapi.json")
        || path.equals("/docs")
        || path.startsWith("/docs/");
  }

  private final byte[] digest;

  /** {@code key} null: the admin API is off. */
  MasterKey(String key) {
    this.digest = key == null ? null : sha256(key);
  }

  boolean enabled() {
    return digest != null;
  }

  /** Passes with the master key; else 404 (no master key set), 401 (none sent) or 403. */
  void require(ServerRequest req) {
    if (digest == null) {
      throw new ApiError(404, "The admin API is off: MASTER_API_KEY is not set");
    }
    String sent = sent(req);
    if (!matches(sent)) {
      throw sent == null
          ? new ApiError(
              401, "Master API key required (X-API-Key, or Authorization: Bearer or ApiKey)")
          : new ApiError(403, "Invalid Master API Key");
    }
  }

  /** True when the request carries the master key (constant-time comparison of digests). */
  boolean matches(ServerRequest req) {
    return matches(sent(req));
  }

  private boolean matches(String sent) {
    return digest != null && sent != null && MessageDigest.isEqual(digest, sha256(sent));
  }

  /** The key sent, found as the API-key filter finds one. */
  private static String sent(ServerRequest req) {
    HeaderCredential sent = HeaderCredential.of(req.headers());
    return sent == null ? null : sent.value();
  }

  private static byte[] sha256(String s) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
