package dev.kubecoderun.auth;

import java.time.Instant;
import java.util.Map;

/**
 * A managed API key as stored (only the SHA-256 of the key is kept). {@code limits} maps a window
 * to its request limit; a missing window is unlimited.
 */
public record ApiKeyRecord(
    String keyHash,
    String keyPrefix,
    String name,
    Instant createdAt,
    boolean enabled,
    Map<RateWindow, Long> limits,
    long usageCount,
    Instant lastUsedAt) {}
