package dev.kubecoderun.memory;

/**
 * Room asked for before bytes are read into memory: what a component that buffers (a runner's
 * answer, a stored state) is handed by its caller, without knowing whose budget it draws on.
 */
@FunctionalInterface
public interface Room {
  /** Room asked of no one: nothing bounds it, so all that is asked is granted. */
  Room NONE = bytes -> bytes;

  /**
   * Makes room for {@code bytes} more, waiting for it if need be; returns what was reserved (less
   * when the holder has all it may have: a caller that cannot do with less must not go on). Throws
   * {@link MemoryBudgetExhaustedException} when no room came in time: nothing more may be read.
   */
  long reserve(long bytes);

  /**
   * {@link #reserve} of all {@code bytes} or none: what was granted short of them (the holder has
   * all it may have) goes back, and {@link MemoryBudgetExhaustedException} says so. For what cannot
   * do with less (a read, a listing loaded whole). A budget's holding refuses at once what it can
   * never grant, rather than wait for it; a room that hands on to another hands this on too.
   */
  default long reserveAll(long bytes) {
    long got = reserve(bytes);
    if (got < bytes) {
      giveBack(got);
      throw new MemoryBudgetExhaustedException();
    }
    return got;
  }

  /**
   * Gives back {@code bytes} of what was reserved and turned out not to be needed; returns what was
   * given back (a budget counts whole KiB).
   */
  default long giveBack(long bytes) {
    return 0;
  }

  /** Room asked of another, counted: what one call took, to give back at once when it is done. */
  final class Counted implements Room {
    private final Room of;
    private long reserved;

    public Counted(Room of) {
      this.of = of;
    }

    @Override
    public synchronized long reserve(long bytes) {
      long got = of.reserve(bytes);
      reserved += got;
      return got;
    }

    @Override
    public synchronized long reserveAll(long bytes) {
      long got = of.reserveAll(bytes);
      reserved += got;
      return got;
    }

    @Override
    public synchronized long giveBack(long bytes) {
      long back = of.giveBack(Math.min(bytes, reserved));
      reserved -= back;
      return back;
    }

    /** What this one holds now. */
    public synchronized long reserved() {
      return reserved;
    }

    /** Gives back all this one took. */
    public void giveBackAll() {
      giveBack(Long.MAX_VALUE);
    }
  }
}
