package dev.kubecoderun.auth;

import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * Env keys (checked first, locally, so they keep working while the key store is down), then managed
 * keys from the key store with their per-window rate limits. There is no validation cache: one read
 * of the record per request is what lets a revocation take effect at once everywhere. A window is
 * counted and checked in one atomic increment, so two replicas can never both let the last allowed
 * request through; when a later window refuses, the windows already counted are given back.
 */
public final class ManagedApiKeys implements ApiKeyValidator {
  private static final Logger LOG = Logger.getLogger(ManagedApiKeys.class.getName());

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
    String hash = sha256Hex(key);
    if (envKeys.isValid(key)) {
      return new Accepted(hash);
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
      Instant now = clock.instant();
      if (rateLimitEnabled) {
        Decision limited = consume(record.get().shortHash(), record.get().limits(), now);
        if (limited != null) {
          return limited;
        }
      }
      store.recordUsage(hash, now);
      return new Accepted(hash);
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
