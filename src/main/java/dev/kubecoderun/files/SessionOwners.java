package dev.kubecoderun.files;

import dev.kubecoderun.auth.Principal;

/**
 * Whether a session is a principal's (the session package answers, taking over a session written
 * before owners were recorded when the principal may): how a file without an owner of its own is
 * judged.
 */
@FunctionalInterface
public interface SessionOwners {
  boolean owns(Principal principal, String sessionId);
}
