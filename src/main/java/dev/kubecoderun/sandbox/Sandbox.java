package dev.kubecoderun.sandbox;

import dev.kubecoderun.language.Language;

/** One single-use sandbox: a runner ready to run one execution, destroyed afterwards. */
public interface Sandbox extends AutoCloseable {
  String id();

  Language language();

  RunnerClient runner();

  boolean isAlive();

  /** Runs {@code callback} once when the sandbox dies on its own (or is destroyed). */
  void onExit(Runnable callback);

  /** Destroys the sandbox: its processes and its files. */
  @Override
  void close();
}
