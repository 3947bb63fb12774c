package dev.kubecoderun.memory;

/**
 * The {@link MemoryBudget} stayed taken by others for the whole wait: what asked for room did not
 * buffer anything more, and may be retried shortly.
 */
public final class MemoryBudgetExhaustedException extends RuntimeException {
  public MemoryBudgetExhaustedException() {
    super("The server is holding as much request data as it may; retry shortly");
  }
}
