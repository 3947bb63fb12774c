package dev.kubecoderun.state;

import dev.kubecoderun.memory.Room;
import java.time.Instant;
import java.util.Optional;

/** Where Python state lives: local disk (embedded) or Redis + S3 archive (production). */
public interface StateStore {
  /** {@link #load(String, Instant, Room)} of any archive, bounded by no budget (tests, tools). */
  default Optional<StoredState> load(String sessionId) {
    return load(sessionId, null, Room.NONE);
  }

  /** {@link #load(String, Instant, Room)} of any archive (tests, tools). */
  default Optional<StoredState> load(String sessionId, Room room) {
    return load(sessionId, null, room);
  }

  /**
   * The session's state; one only archived is brought back where states are kept (Redis). For the
   * session's runs, which hold its lock. {@code room} is asked for what loading it buffers once its
   * size is known, before its bytes are read, all of it ({@link Room#reserveAll}: a {@link
   * dev.kubecoderun.memory.MemoryBudgetExhaustedException} from it ends the load); a missing state
   * costs nothing. {@code sessionCreated}: when the session was made (null: unknown). An archive
   * written before then is not this session's but an earlier one's of the same id, which Redis
   * forgot (a restart or failover without persistence) while S3 kept its state: it is not loaded,
   * as a session made anew starts empty, whoever makes it.
   */
  Optional<StoredState> load(String sessionId, Instant sessionCreated, Room room);

  /** {@link #peek(String, Instant, Room)} of any archive (tests, tools). */
  default Optional<StoredState> peek(String sessionId, Room room) {
    return peek(sessionId, null, room);
  }

  /**
   * As {@link #load}, but where the state is kept stays as it is: for readers without the session's
   * lock (GET /state). Bringing back archived bytes read just before a run saved newer ones would
   * put the older state over them (or back after a delete).
   */
  default Optional<StoredState> peek(String sessionId, Instant sessionCreated, Room room) {
    return load(sessionId, sessionCreated, room);
  }

  /** State captured by a run. */
  void save(String sessionId, byte[] bytes);

  /** {@link #saveUpload(String, byte[], Room)} bounded by no budget. */
  default void saveUpload(String sessionId, byte[] bytes) {
    saveUpload(sessionId, bytes, Room.NONE);
  }

  /**
   * State a client uploaded through POST /state (the Redis store marks it as such). {@code room} is
   * asked, before anything is written, for what the write buffers beside {@code bytes} (all of it,
   * {@link Room#reserveAll}: a {@link dev.kubecoderun.memory.MemoryBudgetExhaustedException} from
   * it writes nothing); the caller gives it back once this returns.
   */
  default void saveUpload(String sessionId, byte[] bytes, Room room) {
    save(sessionId, bytes);
  }

  void delete(String sessionId);
}
