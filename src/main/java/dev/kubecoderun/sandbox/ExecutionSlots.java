package dev.kubecoderun.sandbox;

import dev.kubecoderun.metrics.Metrics;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The global cap on concurrent executions; callers over it wait a bounded time. A graceful stop
 * ({@link #drain}) closes them: from then on no run takes a slot, the callers waiting included, for
 * the stop would destroy its sandbox under it.
 */
public final class ExecutionSlots {
  private final int capacity;
  private final Semaphore slots;
  private final Duration maxWait;
  private final Metrics metrics;
  private final AtomicInteger running = new AtomicInteger();
  private final AtomicBoolean closed = new AtomicBoolean();

  public ExecutionSlots(int capacity, Duration maxWait) {
    this(capacity, maxWait, Metrics.unbound());
  }

  public ExecutionSlots(int capacity, Duration maxWait, Metrics metrics) {
    this.capacity = capacity;
    this.slots = new Semaphore(capacity, true);
    this.maxWait = maxWait;
    this.metrics = metrics;
    metrics.slots(this::inUse, capacity);
  }

  /**
   * Takes a slot, or returns false when none frees up within the wait, or at once when the slots
   * are {@link #closed} (or close while it waits).
   */
  public boolean tryAcquire() throws InterruptedException {
    if (closed.get()) {
      return false;
    }
    long start = System.nanoTime();
    boolean got = slots.tryAcquire(maxWait.toMillis(), TimeUnit.MILLISECONDS);
    metrics.slotWait(System.nanoTime() - start);
    if (got && closed.get()) {
      // Woken by the stop's extra permit (drain), or by a slot freed since it began: no run starts
      // now. The permit goes on to the next caller waiting, which wakes to the same answer.
      slots.release();
      return false;
    }
    if (got) {
      running.incrementAndGet();
    }
    return got;
  }

  public void release() {
    running.decrementAndGet();
    slots.release();
  }

  public int inUse() {
    return running.get();
  }

  public int capacity() {
    return capacity;
  }

  /** Whether a stop has begun ({@link #drain}): no slot is given from then on. */
  public boolean closed() {
    return closed.get();
  }

  /**
   * The graceful stop's wait: closes the slots (callers waiting for one give up at once, later ones
   * at once too), then waits until every running execution has finished, up to {@code timeout}.
   */
  public boolean drain(Duration timeout) throws InterruptedException {
    if (closed.compareAndSet(false, true)) {
      // One permit more than the slots: the first caller waiting takes it and hands it on
      // (tryAcquire), and so on down the queue, so every one gives up now rather than at the end
      // of its wait.
      slots.release();
    }
    if (slots.tryAcquire(capacity + 1, timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      // Given back: a caller that saw the slots open just before they closed, and queued behind
      // this wait, gets one, hands it on and gives up, instead of waiting out its whole wait.
      slots.release(capacity + 1);
      return true;
    }
    return false;
  }
}
