package dev.kubecoderun.session;

import java.time.Instant;

/**
 * A namespace for files and Python state. {@code expiresAt} is null when sessions never expire
 * (SESSION_TTL_HOURS=0); it is fixed at creation, not extended by use, as in the reference. {@code
 * owner} and {@code tenant} are the {@link dev.kubecoderun.auth.Principal} that created it; both
 * are null on a session written before owners were recorded (see docs/auth.md, "Migration").
 */
public record Session(
    String id,
    Instant createdAt,
    Instant lastActivity,
    Instant expiresAt,
    String entityId,
    String userId,
    String owner,
    String tenant) {

  /** A session without an owner (as the Python version and earlier releases wrote them). */
  public Session(
      String id,
      Instant createdAt,
      Instant lastActivity,
      Instant expiresAt,
      String entityId,
      String userId) {
    this(id, createdAt, lastActivity, expiresAt, entityId, userId, null, null);
  }

  public Session touched(Instant now) {
    return new Session(id, createdAt, now, expiresAt, entityId, userId, owner, tenant);
  }

  public Session ownedBy(String owner, String tenant) {
    return new Session(id, createdAt, lastActivity, expiresAt, entityId, userId, owner, tenant);
  }

  public boolean isExpired(Instant now) {
    return expiresAt != null && !expiresAt.isAfter(now);
  }

  /** Written before owners were recorded. */
  public boolean isLegacy() {
    return owner == null;
  }
}
