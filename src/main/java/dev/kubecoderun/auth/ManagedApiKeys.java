package dev.kubecoderun.auth;

import dev.kubecoderun.common.Sha256;
import dev.kubecoderun.common.ThrottledWarning;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Env keys (checked first, locally, so they keep working while the key store is down), then managed
 * keys from the key store, accepted with their per-window rate limits ({@link RateLimiter} counts
 * them). There is no validation cache: one read of the record per request is what lets a revocation
 * take effect at once everywhere.
 */
public final class ManagedApiKeys implements ApiKeyValidator {
  private static final Logger LOG = Logger.getLogger(ManagedApiKeys.class.getName());

  private final EnvApiKeys envKeys;
  private final ApiKeyStore store;
  private final boolean rateLimitEnabled;
  private final Clock clock;
  // Logged at most once a minute: while the store is down, every request would say it.
  private final ThrottledWarning notCounted = new ThrottledWarning(LOG, Duration.ofMinutes(1));
  private final ThrottledWarning storeDown = new ThrottledWarning(LOG, Duration.ofMinutes(1));

  public ManagedApiKeys(
      EnvApiKeys envKeys, ApiKeyStore store, boolean rateLimitEnabled, Clock clock) {
    this.envKeys = envKeys;
    this.store = store;
    this.rateLimitEnabled = rateLimitEnabled;
    this.clock = clock;
  }

  @Override
  public Decision check(String key) {
    if (key == null || key.isEmpty()) {
      return new Rejected("Missing API key");
    }
    String hash = sha256Hex(key);
    if (envKeys.isValid(key)) {
      return new Accepted(hash, Map.of());
    }
    try {
      // The record is read on every request, never taken from a cache: a key revoked or
      // disabled through the admin API, on any replica, is refused by the very next request.
      Optional<ApiKeyRecord> record = store.find(hash);
      if (record.isEmpty()) {
        return new Rejected("Invalid API key");
      }
      if (!record.get().enabled()) {
        return new Rejected("API key is disabled");
      }
      try {
        store.recordUsage(hash, clock.instant());
      } catch (UncheckedIOException e) {
        // The key is good; only its use count is lost (the write is sent at most once: a reply
        // lost after Redis applied it must not make a retry count the use twice).
        notCounted.warn("use of an API key not counted: " + e.getMessage());
      }
      return new Accepted(hash, rateLimitEnabled ? record.get().limits() : Map.of());
    } catch (UncheckedIOException e) {
      storeDown.warn("API key store unavailable: " + e.getMessage());
      return new Unavailable("API key store unavailable; retry shortly");
    }
  }

  public static String sha256Hex(String key) {
    return Sha256.hex(key);
  }
}
