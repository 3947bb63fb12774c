package dev.kubecoderun.state;

import dev.kubecoderun.session.SessionLocks;
import java.time.Duration;

/**
 * A session's state written from outside a run (POST and DELETE /state) takes its turn with the
 * session's runs: a run saves the state it started from plus its own variables, so a write that
 * landed in the middle of a run would be silently undone when the run ends.
 */
public final class StateWrites {
  private final StateStore states;
  private final SessionLocks locks;
  private final Duration wait;

  /** {@code wait}: SESSION_QUEUE_TIMEOUT_SECONDS, as for a run. */
  public StateWrites(StateStore states, SessionLocks locks, Duration wait) {
    this.states = states;
    this.locks = locks;
    this.wait = wait;
  }

  /**
   * Stores an uploaded state once no run of the session is in progress.
   *
   * @throws dev.kubecoderun.session.SessionBusyException a run held the session for the whole wait
   */
  public void upload(String sessionId, byte[] bytes) throws InterruptedException {
    SessionLocks.Lease held = locks.acquire(sessionId, wait);
    try {
      states.saveUpload(sessionId, bytes);
    } finally {
      held.close();
    }
  }

  /** Deletes the state once no run of the session is in progress. */
  public void delete(String sessionId) throws InterruptedException {
    SessionLocks.Lease held = locks.acquire(sessionId, wait);
    try {
      states.delete(sessionId);
    } finally {
      held.close();
    }
  }
}
