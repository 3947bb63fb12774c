package dev.kubecoderun.auth;

/** Decides whether an API key may use the service, and whether it is within its rate limits. */
public interface ApiKeyValidator {
  Decision check(String key);

  /** The outcome of one check. */
  sealed interface Decision {}

  /** The key may proceed; {@code keyHash} is the SHA-256 (hex) of the key, its id. */
  record Accepted(String keyHash) implements Decision {}

  /** 401 with this message. */
  record Rejected(String message) implements Decision {}

  /** 429: {@code window} is full ({@code used} of {@code limit}) until {@code resetAt}. */
  record Limited(RateWindow window, long limit, long used, java.time.Instant resetAt)
      implements Decision {}

  /** The key store could not be asked: 503, the client retries. */
  record Unavailable(String message) implements Decision {}
}
