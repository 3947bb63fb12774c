package dev.kubecoderun.memory;

/**
 * Room asked for before bytes are read into memory: what a component that buffers (a runner's
 * answer, a stored state) is handed by its caller, without knowing whose budget it draws on.
 */
@FunctionalInterface
public interface Room {
  /** Room asked of no one: nothing bounds it. */
  Room NONE = bytes -> 0;

  /**
   * Makes room for {@code bytes} more, waiting for it if need be; returns what was reserved (less
   * when the holder has all it may have). Throws {@link MemoryBudgetExhaustedException} when no
   * room came in time: nothing more may be read.
   */
  long reserve(long bytes);
}
