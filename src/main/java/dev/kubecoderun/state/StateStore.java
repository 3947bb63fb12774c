package dev.kubecoderun.state;

import java.util.Optional;

/** Where Python state lives: local disk (embedded) or Redis + S3 archive (production). */
public interface StateStore {
  Optional<StoredState> load(String sessionId);

  /** State captured by a run. */
  void save(String sessionId, byte[] bytes);

  /** State a client uploaded through POST /state (the Redis store marks it as such). */
  default void saveUpload(String sessionId, byte[] bytes) {
    save(sessionId, bytes);
  }

  void delete(String sessionId);
}
