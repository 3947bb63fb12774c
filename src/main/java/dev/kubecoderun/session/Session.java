package dev.kubecoderun.session;

import java.time.Instant;

/** A namespace for files and Python state. */
public record Session(
    String id, Instant createdAt, Instant lastActivity, String entityId, String userId) {

  public Session touched(Instant now) {
    return new Session(id, createdAt, now, entityId, userId);
  }
}
