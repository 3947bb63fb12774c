package dev.kubecoderun.auth;

import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Env keys (checked first, locally, so they keep working while the key store is down), then managed
 * keys from the key store, accepted with their per-window rate limits ({@link RateLimiter} counts
 * them).
 */
public final class ManagedApiKeys implements ApiKeyValidator {
  private static final Logger LOG = Logger.getLogger(ManagedApiKeys.class.getName());
  static final Duration CACHE_TTL = Duration.ofSeconds(300);

  private final EnvApiKeys envKeys;
  private final ApiKeyStore store;
  private final boolean rateLimitEnabled;
  private final Clock clock;

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
    if (envKeys.isValid(key)) {
      return Accepted.UNLIMITED;
    }
    String hash = sha256Hex(key);
    String shortHash = hash.substring(0, 16);
    try {
      Optional<String> cached = store.cachedValidation(shortHash);
      if (cached.isPresent() && cached.get().equals("1") && !rateLimitEnabled) {
        store.recordUsage(hash, clock.instant());
        return Accepted.UNLIMITED;
      }
      Optional<ApiKeyRecord> record = store.find(hash);
      if (record.isEmpty()) {
        return new Rejected("Invalid API key");
      }
      if (!record.get().enabled()) {
        store.invalidate(shortHash);
        return new Rejected("API key is disabled");
      }
      if (cached.isEmpty()) {
        store.cacheValidation(shortHash, "1", CACHE_TTL);
      }
      store.recordUsage(hash, clock.instant());
      return rateLimitEnabled ? new Accepted(record.get().limits()) : Accepted.UNLIMITED;
    } catch (UncheckedIOException e) {
      LOG.warning("API key store unavailable: " + e.getMessage());
      return new Unavailable("API key store unavailable; retry shortly");
    }
  }

  public static String sha256Hex(String key) {
    try {
      return HexFormat.of()
          .formatHex(
              MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }
}
