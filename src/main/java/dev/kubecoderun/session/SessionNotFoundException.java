package dev.kubecoderun.session;

/**
 * A session named by the request does not exist for its principal: it belongs to another one. The
 * API answers 404, as for a session that does not exist, so its existence is not confirmed.
 */
public final class SessionNotFoundException extends RuntimeException {
  public SessionNotFoundException(String id) {
    super("Session not found: " + id);
  }
}
