package dev.kubecoderun.state;

import dev.kubecoderun.memory.Room;
import java.util.Optional;

/** Where Python state lives: local disk (embedded) or Redis + S3 archive (production). */
public interface StateStore {
  /** {@link #load(String, Room)} bounded by no budget. */
  default Optional<StoredState> load(String sessionId) {
    return load(sessionId, Room.NONE);
  }

  /**
   * The session's state. {@code room} is asked for what loading it buffers once its size is known,
   * before its bytes are read (a {@link dev.kubecoderun.memory.MemoryBudgetExhaustedException} from
   * it ends the load); a missing state costs nothing.
   */
  Optional<StoredState> load(String sessionId, Room room);

  /** State captured by a run. */
  void save(String sessionId, byte[] bytes);

  /** State a client uploaded through POST /state (the Redis store marks it as such). */
  default void saveUpload(String sessionId, byte[] bytes) {
    save(sessionId, bytes);
  }

  void delete(String sessionId);
}
