package dev.kubecoderun.sandbox;

import dev.kubecoderun.language.Language;

/** One single-use sandbox: a runner ready to run one execution, destroyed afterwards. */
public interface Sandbox extends AutoCloseable {
  String id();

  Language language();

  RunnerClient runner();

  boolean isAlive();

  /**
   * Runs {@code callback} once when the sandbox can no longer serve a run: it died on its own (or
   * was destroyed), or it is {@link #retired}.
   */
  void onExit(Runnable callback);

  /**
   * Whether it has come to the end of its useful life (a Kubernetes pod too near its deadline for a
   * run): an expected end, where a death is not.
   */
  default boolean retired() {
    return false;
  }

  /** Destroys the sandbox: its processes and its files. */
  @Override
  void close();
}
