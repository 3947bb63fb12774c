package dev.kubecoderun.execution;

/**
 * An execution the service could not carry out for a reason of its own, not of the user's code: the
 * caller may retry later. (A store that fails raises {@link java.io.UncheckedIOException}.)
 */
public final class ExecutionUnavailableException extends RuntimeException {
  /** Why the execution could not run. */
  public enum Reason {
    /** Every execution slot stayed taken for the whole queue wait. */
    SLOTS_BUSY,
    /**
     * The service is stopping: a run started now would have its sandbox destroyed under it. Another
     * replica (or this one, restarted) takes it.
     */
    STOPPING,
    /** No sandbox could be had: none was warm and starting one failed. */
    NO_SANDBOX,
    /** The sandbox failed during the execution (its runner died, or refused a call). */
    SANDBOX_FAILED
  }

  private final Reason reason;

  public ExecutionUnavailableException(Reason reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = reason;
  }

  public Reason reason() {
    return reason;
  }
}
