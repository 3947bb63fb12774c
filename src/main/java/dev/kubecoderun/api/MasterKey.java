package dev.kubecoderun.api;

import dev.kubecoderun.auth.ClientAddress;
import dev.kubecoderun.auth.CredentialThrottle;
import dev.kubecoderun.metrics.Metrics;
import io.helidon.webserver.http.ServerRequest;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The operator's key (MASTER_API_KEY): the only key the admin API, the dashboard's data and
 * /metrics accept, in {@code X-API-Key} or {@code Authorization: Bearer} (or {@code ApiKey}). API
 * keys never reach these routes (the API-key filter lets them through to this check), and this key
 * is no API key. The metrics token (METRICS_TOKEN) is checked by the same code: /metrics takes
 * either. A wrong key counts against the client's address ({@link ClientAddress}; {@link
 * CredentialThrottle}, shared with the API keys): once it failed too many, its unknown keys are
 * answered 429 unchecked.
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

  private final List<byte[]> digests;
  private final CredentialThrottle throttle;
  private final ClientAddress clients;
  private final Metrics metrics;

  /** The keys that open the routes; null ones are unset. None set: the routes are off. */
  MasterKey(CredentialThrottle throttle, ClientAddress clients, Metrics metrics, String... keys) {
    this.digests = Arrays.stream(keys).filter(Objects::nonNull).map(MasterKey::sha256).toList();
    this.throttle = throttle;
    this.clients = clients;
    this.metrics = metrics;
  }

  boolean enabled() {
    return !digests.isEmpty();
  }

  /** Passes with the master key; else 404 (no master key set), 401 (none sent), 403 or 429. */
  void require(ServerRequest req) {
    if (!enabled()) {
      throw new ApiError(404, "The admin API is off: MASTER_API_KEY is not set");
    }
    if (!matches(req)) {
      throw sent(req) == null
          ? new ApiError(
              401, "Master API key required (X-API-Key, or Authorization: Bearer or ApiKey)")
          : new ApiError(403, "Invalid Master API Key");
    }
  }

  /**
   * True when the request carries one of the keys (constant-time comparison of digests). A key sent
   * is checked only while its address may still try one (else 429), and its outcome is counted.
   */
  boolean matches(ServerRequest req) {
    String sent = sent(req);
    if (sent == null || !enabled()) {
      return false;
    }
    InetAddress address = AuthFilter.clientAddress(clients, req);
    Duration wait = throttle.attempt(address, sent);
    if (wait != null) {
      metrics.credentialThrottled("operator");
      throw ApiError.tooManyFailedCredentials(wait);
    }
    byte[] digest = sha256(sent);
    boolean ok = false;
    for (byte[] known : digests) {
      ok |= MessageDigest.isEqual(known, digest);
    }
    if (ok) {
      throttle.accepted(sent);
    } else {
      throttle.failed(address, sent);
    }
    return ok;
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
