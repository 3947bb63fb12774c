package dev.kubecoderun.sandbox;

import dev.kubecoderun.execution.Language;

/** One single-use sandbox: a runner ready to run one execution, destroyed afterwards. */
public interface Sandbox extends AutoCloseable {
  String id();

  Language language();

  RunnerClient runner();

  boolean isAlive();

  /** Destroys the sandbox: its processes and its files. */
  @Override
  void close();
}
