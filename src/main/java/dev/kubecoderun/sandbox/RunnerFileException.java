package dev.kubecoderun.sandbox;

/**
 * The runner is there but cannot give one file: it is gone, not a regular file, not readable, or
 * its content broke off. That file is skipped; the sandbox itself is fine.
 */
public final class RunnerFileException extends Exception {
  public RunnerFileException(String message) {
    super(message);
  }
}
