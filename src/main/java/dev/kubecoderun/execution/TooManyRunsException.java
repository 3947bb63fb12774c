package dev.kubecoderun.execution;

/**
 * A LibreChat user asked for a run while it had as many in progress as it may ({@link
 * PrincipalRuns}).
 */
public final class TooManyRunsException extends RuntimeException {
  private final int max;

  public TooManyRunsException(int max) {
    super(
        "Too many executions in progress for this user: at most "
            + max
            + " at once (JWT_MAX_CONCURRENT_EXECUTIONS); retry when one has ended");
    this.max = max;
  }

  public int max() {
    return max;
  }
}
