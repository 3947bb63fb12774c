package dev.kubecoderun.session;

import java.io.IOException;
import java.time.Duration;
import java.util.logging.Logger;

/**
 * Empties sessions that expired or vanished (Redis expired the hash): their state, their files,
 * then their record ({@link ExpiredSessions}). Each cycle looks at one page of session ids and goes
 * on from there next time, so a cycle costs the same however many sessions there are.
 */
public final class SessionCleaner {
  private static final Logger LOG = Logger.getLogger(SessionCleaner.class.getName());
  static final int SESSIONS_PER_CYCLE = 500;

  private final SessionStore sessions;
  private final ExpiredSessions expired;
  private String cursor = SessionStore.IdPage.START;

  public SessionCleaner(SessionStore sessions, ExpiredSessions expired) {
    this.sessions = sessions;
    this.expired = expired;
  }

  /** One cycle; returns how many sessions it removed. */
  public synchronized int runOnce() throws IOException, InterruptedException {
    SessionStore.IdPage page = sessions.ids(cursor, SESSIONS_PER_CYCLE);
    int removed = 0;
    for (String id : page.ids()) {
      if (sessions.find(id).isPresent()) {
        continue; // live: not worth its lock
      }
      try {
        if (expired.empty(id, Duration.ZERO)) {
          removed++;
        }
      } catch (SessionBusyException e) {
        // A run of it is still going: emptied in a later cycle.
      }
    }
    cursor = page.next();
    if (removed > 0) {
      LOG.info("cleaned up " + removed + " expired session(s) with their files and state");
    }
    return removed;
  }
}
