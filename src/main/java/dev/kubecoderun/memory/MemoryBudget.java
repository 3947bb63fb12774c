package dev.kubecoderun.memory;

import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The bytes the API may hold at once in what it buffers (JSON bodies and their trees, Python states
 * in and out, what runs send to and get from their sandboxes), all requests and runs together. Each
 * is bounded by its own limit, but a few dozen large ones at once would not be: each reserves what
 * it may hold before it reads, and gives it back once done (an HTTP request once answered, a run
 * once over). Past the budget it waits, then fails with {@link MemoryBudgetExhaustedException}.
 */
public final class MemoryBudget {
  private static final Duration WAIT = Duration.ofSeconds(10);

  private final long capacityKib;
  private final Duration wait;
  // Fair: a large reservation waiting is not passed over again and again by small ones.
  private final Semaphore kib;

  public MemoryBudget(long bytes) {
    this(bytes, WAIT);
  }

  public MemoryBudget(long bytes, Duration wait) {
    this.capacityKib = Math.clamp(bytes >> 10, 1, Integer.MAX_VALUE);
    this.kib = new Semaphore((int) capacityKib, true);
    this.wait = wait;
  }

  private static final MemoryBudget NONE = new MemoryBudget(Long.MAX_VALUE);

  /** A holding on no budget worth the name (2 TiB): for what is not given one (a unit test). */
  public static Held unbounded() {
    return NONE.hold();
  }

  /** Available now, in bytes. */
  public long available() {
    return (long) kib.availablePermits() << 10;
  }

  public long capacity() {
    return capacityKib << 10;
  }

  public long held() {
    return capacity() - available();
  }

  /** Holders waiting for room now. */
  public int waiting() {
    return kib.getQueueLength();
  }

  /** What one holder (a request, a run) holds. */
  public final class Held implements Room {
    private final boolean waits;
    private long heldKib;

    private Held(boolean waits) {
      this.waits = waits;
    }

    /**
     * Reserves {@code bytes} more, waiting for others to give back; {@link
     * MemoryBudgetExhaustedException} past the wait. A holder alone may hold the whole budget,
     * never more, so none waits forever: it returns what it reserved, less than asked past that (a
     * bound asked for in full, which a request body need not reach; a read that cannot do with
     * less, {@link PaidRead}, fails then rather than read on unpaid). A holder that holds some
     * already (a run reading its answer) takes room there is at once, ahead of those waiting to
     * start: were it to queue behind one that waits for what it holds, both would wait in vain.
     */
    @Override
    public synchronized long reserve(long bytes) {
      long want = Math.min((bytes + 1023) >> 10, capacityKib - heldKib);
      if (want <= 0) {
        return 0;
      }
      boolean got;
      if (!waits) {
        // Room free now, and no one waiting for it: a fair semaphore's untimed tryAcquire would
        // take it ahead of them.
        got = !kib.hasQueuedThreads() && kib.tryAcquire((int) want);
      } else {
        // The untimed tryAcquire takes free permits even of a fair semaphore with threads queued.
        got = heldKib > 0 && kib.tryAcquire((int) want);
        try {
          got = got || kib.tryAcquire((int) want, wait.toNanos(), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          got = false;
        }
      }
      if (!got) {
        throw new MemoryBudgetExhaustedException();
      }
      heldKib += want;
      return want << 10;
    }

    /**
     * {@link Room#reserveAll}, refused at once when {@code bytes} are more than this holder may
     * ever hold (the budget less what it holds already): waiting could not change that, and a
     * holder waiting at the head of the fair queue keeps every other request waiting behind it.
     */
    @Override
    public synchronized long reserveAll(long bytes) {
      if (Math.ceilDiv(bytes, 1024) > capacityKib - heldKib) {
        throw new MemoryBudgetExhaustedException();
      }
      return reserve(bytes);
    }

    /**
     * Gives back {@code bytes} of what this holder holds (reserved, then not needed), in whole KiB;
     * returns what it gave back.
     */
    @Override
    public synchronized long giveBack(long bytes) {
      long back = Math.min(bytes >> 10, heldKib);
      if (back > 0) {
        kib.release((int) back);
        heldKib -= back;
      }
      return back << 10;
    }

    /** Gives back everything: the holder is done. */
    public synchronized void releaseAll() {
      if (heldKib > 0) {
        kib.release((int) heldKib);
        heldKib = 0;
      }
    }

    /** What this holder holds now, in bytes. */
    public synchronized long held() {
      return heldKib << 10;
    }

    /** The budget this holding draws on. */
    public MemoryBudget budget() {
      return MemoryBudget.this;
    }
  }

  public Held hold() {
    return new Held(true);
  }

  /**
   * A holding for background work (the state archiver) that never waits for room, nor takes room
   * someone waits for: {@link MemoryBudgetExhaustedException} instead. A large reservation waiting
   * at the head of the fair queue would hold up every request behind it.
   */
  public Held holdIfFree() {
    return new Held(false);
  }
}
