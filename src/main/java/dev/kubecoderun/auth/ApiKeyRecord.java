package dev.kubecoderun.auth;

import java.time.Instant;
import java.util.Map;

/**
 * A managed API key as stored (only the SHA-256 of the key is kept). {@code limits} maps a window
 * to its request limit; a missing window is unlimited. {@code metadata}: the operator's own labels
 * (the Python version's free-form string map).
 */
public record ApiKeyRecord(
    String keyHash,
    String keyPrefix,
    String name,
    Instant createdAt,
    boolean enabled,
    Map<RateWindow, Long> limits,
    long usageCount,
    Instant lastUsedAt,
    Map<String, String> metadata) {

  public ApiKeyRecord {
    limits = Map.copyOf(limits);
    metadata = metadata == null ? Map.of() : Map.copyOf(metadata);
  }

  public ApiKeyRecord(
      String keyHash,
      String keyPrefix,
      String name,
      Instant createdAt,
      boolean enabled,
      Map<RateWindow, Long> limits,
      long usageCount,
      Instant lastUsedAt) {
    this(keyHash, keyPrefix, name, createdAt, enabled, limits, usageCount, lastUsedAt, Map.of());
  }

  /** The first 16 hex digits of the hash: the id of the key's counters and usage. */
  public String shortHash() {
    return shortHash(keyHash);
  }

  /** {@link #shortHash()} of the key with that hash, for where only the hash is at hand. */
  public static String shortHash(String keyHash) {
    return keyHash.substring(0, 16);
  }

  public ApiKeyRecord withUsage(long count, Instant lastUsed) {
    return new ApiKeyRecord(
        keyHash, keyPrefix, name, createdAt, enabled, limits, count, lastUsed, metadata);
  }
}
