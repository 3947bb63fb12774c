package dev.kubecoderun.state;

import java.util.Optional;

/** Where Python state lives: local disk (embedded) or Redis + S3 (production). */
public interface StateStore {
  Optional<StoredState> load(String sessionId);

  void save(String sessionId, byte[] bytes);

  void delete(String sessionId);
}
