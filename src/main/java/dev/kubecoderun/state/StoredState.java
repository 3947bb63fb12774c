package dev.kubecoderun.state;

import java.time.Instant;

/** A session's Python state: opaque bytes (version byte + payload) with their SHA-256. */
public record StoredState(byte[] bytes, String hash, Instant createdAt, Instant expiresAt) {}
