package dev.kubecoderun.sandbox;

/** The sandbox infrastructure failed (not the user's code): answered with 503. */
public final class SandboxException extends Exception {
  public SandboxException(String message) {
    super(message);
  }

  public SandboxException(String message, Throwable cause) {
    super(message, cause);
  }
}
