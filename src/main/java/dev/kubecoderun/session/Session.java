package dev.kubecoderun.session;

import java.time.Instant;

/**
 * A namespace for files and Python state. {@code expiresAt} is null when sessions never expire
 * (SESSION_TTL_HOURS=0); it is fixed at creation, not extended by use, as in the reference.
 */
public record Session(
    String id,
    Instant createdAt,
    Instant lastActivity,
    Instant expiresAt,
    String entityId,
    String userId) {

  public Session touched(Instant now) {
    return new Session(id, createdAt, now, expiresAt, entityId, userId);
  }

  public boolean isExpired(Instant now) {
    return expiresAt != null && !expiresAt.isAfter(now);
  }
}
