package dev.kubecoderun.session;

import java.time.Duration;

/** Another run of the session went on for longer than a new run may wait for it. */
public final class SessionBusyException extends RuntimeException {
  private final String sessionId;

  public SessionBusyException(String sessionId, Duration waited) {
    super(
        "Another execution of session "
            + sessionId
            + " is still running after "
            + waited.toSeconds()
            + " s; runs of one session run one at a time, retry when it is done");
    this.sessionId = sessionId;
  }

  public String sessionId() {
    return sessionId;
  }
}
