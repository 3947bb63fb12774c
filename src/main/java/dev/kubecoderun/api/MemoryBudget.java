package dev.kubecoderun.api;

import io.helidon.webserver.http.ServerRequest;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/**
 * The bytes the API may hold at once in what it buffers for requests (JSON bodies and their trees,
 * Python states in and out), all requests together. Each request is bounded by its own limit, but a
 * few dozen large ones at once would not be: a request reserves what it may hold before it reads,
 * and gives it back once answered (RequestFilter). Past the budget it waits, then gets a 503.
 */
final class MemoryBudget {
  private static final Duration WAIT = Duration.ofSeconds(10);

  private final long capacityKib;
  private final Duration wait;
  // Fair: a large reservation waiting is not passed over again and again by small ones.
  private final Semaphore kib;

  MemoryBudget(long bytes) {
    this(bytes, WAIT);
  }

  MemoryBudget(long bytes, Duration wait) {
    this.capacityKib = Math.clamp(bytes >> 10, 1, Integer.MAX_VALUE);
    this.kib = new Semaphore((int) capacityKib, true);
    this.wait = wait;
  }

  private static final MemoryBudget NONE = new MemoryBudget(Long.MAX_VALUE);

  /** Available now, in bytes (for tests). */
  long available() {
    return (long) kib.availablePermits() << 10;
  }

  long capacity() {
    return capacityKib << 10;
  }

  long held() {
    return capacity() - available();
  }

  /** Requests waiting for room now. */
  int waiting() {
    return kib.getQueueLength();
  }

  /** What one request holds. */
  final class Held {
    private long heldKib;

    /**
     * Reserves {@code bytes} more, waiting for others to give back; a 503 past the wait. A request
     * alone may hold the whole budget, never more, so no request waits forever: it returns what it
     * reserved.
     */
    synchronized long reserve(long bytes) {
      long want = Math.min((bytes + 1023) >> 10, capacityKib - heldKib);
      if (want <= 0) {
        return 0;
      }
      boolean got;
      try {
        got = kib.tryAcquire((int) want, wait.toNanos(), TimeUnit.NANOSECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        got = false;
      }
      if (!got) {
        throw ApiError.unavailable(
            "The server is holding as much request data as it may; retry shortly", 1);
      }
      heldKib += want;
      return want << 10;
    }

    /** Gives back {@code bytes} of what this request holds (reserved, then not needed). */
    synchronized void giveBack(long bytes) {
      long back = Math.min(bytes >> 10, heldKib);
      if (back > 0) {
        kib.release((int) back);
        heldKib -= back;
      }
    }

    /** Gives back everything: the request has been answered. */
    synchronized void releaseAll() {
      if (heldKib > 0) {
        kib.release((int) heldKib);
        heldKib = 0;
      }
    }

    /** The budget this holding draws on. */
    MemoryBudget budget() {
      return MemoryBudget.this;
    }
  }

  Held hold() {
    return new Held();
  }

  /**
   * The request's holding; a request that never went through RequestFilter (a unit test) draws on
   * no budget.
   */
  static Held of(ServerRequest req) {
    return req.context().get(Held.class).orElseGet(NONE::hold);
  }
}
