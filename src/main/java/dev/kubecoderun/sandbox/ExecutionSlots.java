package dev.kubecoderun.sandbox;

import dev.kubecoderun.metrics.Metrics;
import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/** The global cap on concurrent executions; callers over it wait a bounded time. */
public final class ExecutionSlots {
  private final int capacity;
  private final Semaphore slots;
  private final Duration maxWait;
  private final Metrics metrics;

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

  /** Takes a slot, or returns false when none frees up within the wait. */
  public boolean tryAcquire() throws InterruptedException {
    long start = System.nanoTime();
    boolean got = slots.tryAcquire(maxWait.toMillis(), TimeUnit.MILLISECONDS);
    metrics.slotWait(System.nanoTime() - start);
    return got;
  }

  public void release() {
    slots.release();
  }

  public int inUse() {
    return capacity - slots.availablePermits();
  }

  public int capacity() {
    return capacity;
  }

  /** Waits until every running execution has finished, up to {@code timeout}. */
  public boolean drain(Duration timeout) throws InterruptedException {
    if (slots.tryAcquire(capacity, timeout.toMillis(), TimeUnit.MILLISECONDS)) {
      slots.release(capacity);
      return true;
    }
    return false;
  }
}
