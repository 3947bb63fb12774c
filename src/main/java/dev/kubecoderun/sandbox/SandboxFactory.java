package dev.kubecoderun.sandbox;

import dev.kubecoderun.language.Language;

/** Creates sandboxes of one backend (local processes, Kubernetes pods). */
public interface SandboxFactory extends AutoCloseable {
  /**
   * Starts a sandbox and blocks until its runner answers. {@code warm} asks for the language's
   * interpreter to be started ahead (for pooled sandboxes; a sandbox used at once runs cold).
   */
  Sandbox create(Language language, boolean warm) throws SandboxException;

  /** Short backend name for health and logs. */
  String name();

  @Override
  default void close() {}
}
