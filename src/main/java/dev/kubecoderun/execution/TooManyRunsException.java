package dev.kubecoderun.execution;

/**
 * A principal asked for a run while it had as many in progress as it may ({@link PrincipalRuns}).
 */
public final class TooManyRunsException extends RuntimeException {
  /** {@code who}: "this user"; {@code setting}: the cap's, JWT_MAX_CONCURRENT_EXECUTIONS. */
  public TooManyRunsException(int max, String who, String setting) {
    super(
        "Too many executions in progress for "
            + who
            + ": at most "
            + max
            + " at once ("
            + setting
            + "); retry when one has ended");
  }
}
