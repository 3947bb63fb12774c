package dev.kubecoderun.session;

import dev.kubecoderun.files.FileService;
import java.io.IOException;
import java.util.logging.Logger;

/**
 * Deletes the files of sessions that expired or vanished (Redis expired the hash), then forgets
 * them. Each cycle looks at one page of session ids and goes on from there next time, so a cycle
 * costs the same however many sessions there are.
 */
public final class SessionCleaner {
  private static final Logger LOG = Logger.getLogger(SessionCleaner.class.getName());
  static final int SESSIONS_PER_CYCLE = 500;
  static final int OBJECTS_PER_SESSION = 1000;

  private final SessionStore sessions;
  private final FileService files;
  private String cursor = SessionStore.IdPage.START;

  public SessionCleaner(SessionStore sessions, FileService files) {
    this.sessions = sessions;
    this.files = files;
  }

  /** One cycle; returns how many sessions it removed. */
  public synchronized int runOnce() throws IOException {
    SessionStore.IdPage page = sessions.ids(cursor, SESSIONS_PER_CYCLE);
    int removed = 0;
    for (String id : page.ids()) {
      if (sessions.find(id).isEmpty()) {
        files.deleteSession(id, OBJECTS_PER_SESSION);
        sessions.delete(id);
        removed++;
      }
    }
    cursor = page.next();
    if (removed > 0) {
      LOG.info("cleaned up " + removed + " expired session(s) and their files");
    }
    return removed;
  }
}
