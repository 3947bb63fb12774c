package dev.kubecoderun.auth;

import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Env keys (checked first, locally, so they keep working while the key store is down), then managed
 * keys from the key store with their per-window rate limits. A window is counted and checked in one
 * atomic increment, so two replicas can never both let the last allowed request through; when a
 * later window refuses, the windows already counted are given back.
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
      return new Accepted();
    }
    String hash = sha256Hex(key);
    String shortHash = hash.substring(0, 16);
    try {
      Optional<String> cached = store.cachedValidation(shortHash);
      if (cached.isPresent() && cached.get().equals("1") && !rateLimitEnabled) {
        store.recordUsage(hash, clock.instant());
        return new Accepted();
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
      Instant now = clock.instant();
      if (rateLimitEnabled) {
        Decision limited = consume(shortHash, record.get().limits(), now);
        if (limited != null) {
          return limited;
        }
      }
      store.recordUsage(hash, now);
      return new Accepted();
    } catch (UncheckedIOException e) {
      LOG.warning("API key store unavailable: " + e.getMessage());
      return new Unavailable("API key store unavailable; retry shortly");
    }
  }

  /** Counts the request in every limited window; null when all are within their limits. */
  private Decision consume(String shortHash, Map<RateWindow, Long> limits, Instant now) {
    List<String> counted = new ArrayList<>();
    for (RateWindow w : RateWindow.values()) {
      Long limit = limits.get(w);
      if (limit == null) {
        continue;
      }
      String counter = w.counter(now);
      long used = store.increment(shortHash, counter, w.counterTtl());
      counted.add(counter);
      if (used > limit) {
        for (String c : counted) {
          store.decrement(shortHash, c);
        }
        return new Limited(w, limit, used - 1, w.resetAt(now));
      }
    }
    return null;
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
