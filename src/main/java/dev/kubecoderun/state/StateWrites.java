package dev.kubecoderun.state;

import dev.kubecoderun.memory.Room;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionNotFoundException;
import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * A session's state written from outside a run (POST and DELETE /state) takes its turn with the
 * session's runs: a run saves the state it started from plus its own variables, so a write that
 * landed in the middle of a run would be silently undone when the run ends.
 */
public final class StateWrites {
  private final StateStore states;
  private final SessionLocks locks;
  private final Duration wait;

  /**
   * The wait for the lock may outlast the session (SESSION_TTL_HOURS): expired, emptied and made
   * anew by another principal. {@code stillTheirs}, asked once the lock is held, says whether the
   * session is still the writer's; if not, nothing is written.
   */
  private static void requireStill(String sessionId, BooleanSupplier stillTheirs) {
    if (!stillTheirs.getAsBoolean()) {
      throw new SessionNotFoundException(sessionId);
    }
  }

  /** {@code wait}: SESSION_QUEUE_TIMEOUT_SECONDS, as for a run. */
  public StateWrites(StateStore states, SessionLocks locks, Duration wait) {
    this.states = states;
    this.locks = locks;
    this.wait = wait;
  }

  /**
   * Stores an uploaded state once no run of the session is in progress; {@code room}: see {@link
   * StateStore#saveUpload(String, byte[], Room)}.
   *
   * @throws dev.kubecoderun.session.SessionBusyException a run held the session for the whole wait
   * @throws SessionNotFoundException the session is no longer the writer's (requireStill)
   */
  public void upload(String sessionId, byte[] bytes, Room room, BooleanSupplier stillTheirs)
      throws InterruptedException {
    SessionLocks.Lease held = locks.acquire(sessionId, wait);
    try {
      requireStill(sessionId, stillTheirs);
      states.saveUpload(sessionId, bytes, room);
    } finally {
      held.close();
    }
  }

  /**
   * Deletes the state once no run of the session is in progress, if the session is still the
   * deleter's then (a delete of another's state deletes nothing).
   */
  public void delete(String sessionId, BooleanSupplier stillTheirs) throws InterruptedException {
    SessionLocks.Lease held = locks.acquire(sessionId, wait);
    try {
      if (stillTheirs.getAsBoolean()) {
        states.delete(sessionId);
      }
    } finally {
      held.close();
    }
  }
}
