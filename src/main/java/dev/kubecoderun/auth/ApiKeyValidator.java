package dev.kubecoderun.auth;

import java.util.Map;

/** Decides whether an API key may use the service, and which rate limits it has. */
public interface ApiKeyValidator {
  Decision check(String key);

  /** The outcome of one check. */
  sealed interface Decision {}

  /**
   * The key may proceed, within {@code limits} (empty: none; counted by {@link RateLimiter}).
   * {@code keyHash} is the SHA-256 (hex) of the key, its id (and its {@link Principal}'s).
   */
  record Accepted(String keyHash, Map<RateWindow, Long> limits) implements Decision {
    public Accepted {
      limits = Map.copyOf(limits);
    }
  }

  /** 401 with this message. */
  record Rejected(String message) implements Decision {}

  /** The key store could not be asked: 503, the client retries. */
  record Unavailable(String message) implements Decision {}
}
