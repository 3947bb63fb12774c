package dev.kubecoderun.session;

import java.time.Instant;
import java.util.Optional;

/** Where sessions live: memory (embedded) or Redis (production). */
public interface SessionStore {
  void save(Session session);

  Optional<Session> find(String id);

  /** The most recently active session created for an entity (a LibreChat agent or assistant). */
  Optional<Session> findByEntity(String entityId);

  void touch(String id, Instant now);
}
