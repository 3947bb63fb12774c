package dev.kubecoderun.session;

/**
 * {@link SessionStore#createOrReuse} was given the id of a session that expired and was not emptied
 * yet: {@link ExpiredSessions#empty} removes its state, files and record first, so the session
 * created anew under that id starts without anything of the expired one's.
 */
public final class SessionExpiredException extends RuntimeException {
  public SessionExpiredException(String id) {
    super("Session expired and not emptied yet: " + id);
  }
}
