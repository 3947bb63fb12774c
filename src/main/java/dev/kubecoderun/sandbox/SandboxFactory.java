package dev.kubecoderun.sandbox;

import dev.kubecoderun.language.Language;

/** Creates sandboxes of one backend (local processes, Kubernetes pods). */
public interface SandboxFactory extends AutoCloseable {
  /**
   * Starts a sandbox and blocks until its runner answers. {@code warm} asks for the language's
   * interpreter to be started ahead (for pooled sandboxes; a sandbox used at once runs cold).
   */
  Sandbox create(Language language, boolean warm) throws SandboxException;

  /**
   * Why no sandbox of this backend may be given to a run right now, or null. Asked each time one is
   * handed out, a pool's warm one and a session's kept one too: a sandbox made earlier may have
   * become one that must not run (Kubernetes: its NetworkPolicy not shown to be enforced).
   */
  default String refusal() {
    return null;
  }

  /**
   * Why this backend cannot take work yet, or null: /ready says so, and a load balancer sends the
   * runs to replicas that can (Kubernetes: the isolation check has not shown the network closed).
   */
  default String notReady() {
    return null;
  }

  /**
   * The service is stopping ({@link #close} follows): a failure from now on that comes of the
   * backend going too (the local jail got the same Ctrl-C as the API) is expected, logged at FINE.
   */
  default void stopping() {}

  /** Short backend name for health and logs. */
  String name();

  @Override
  default void close() {}
}
