package dev.kubecoderun.session;

import dev.kubecoderun.files.FileService;
import dev.kubecoderun.state.StateStore;
import java.io.IOException;
import java.time.Duration;

/**
 * Empties a session that expired: its Python state (in the store and the archive), its files, and
 * last its record. While the expired record is there nobody can create the session anew ({@link
 * SessionStore#createOrReuse} refuses it), and all of it happens under the session's lock, the one
 * runs and state writes take. So nothing of the expired session outlives its record, and a session
 * re-created under its id starts empty, whoever re-creates it; the clean-up never touches a session
 * re-created in its place.
 */
public final class ExpiredSessions {
  static final int OBJECTS_PER_SESSION = 1000;

  private final SessionStore sessions;
  private final FileService files;
  private final StateStore states;
  private final SessionLocks locks;

  public ExpiredSessions(
      SessionStore sessions, FileService files, StateStore states, SessionLocks locks) {
    this.sessions = sessions;
    this.files = files;
    this.states = states;
    this.locks = locks;
  }

  /**
   * Empties the session if it expired, waiting up to {@code wait} for a run of it to end. Returns
   * whether it did; false when it is live or already gone.
   *
   * @throws SessionBusyException the session stayed busy for the whole wait
   */
  public boolean empty(String id, Duration wait) throws IOException, InterruptedException {
    SessionLocks.Lease held = locks.acquire(id, wait);
    try {
      // Checked under the lock: another replica may have emptied it since, and someone re-created
      // it.
      if (!sessions.hasExpired(id)) {
        return false;
      }
      states.delete(id);
      files.deleteSession(id, OBJECTS_PER_SESSION);
      return sessions.deleteIfExpired(id);
    } finally {
      held.close();
    }
  }
}
