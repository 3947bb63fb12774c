package dev.kubecoderun.sandbox;

import java.time.Duration;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;

/** The global cap on concurrent executions; callers over it wait a bounded time. */
public final class ExecutionSlots {
  private final int capacity;
  private final Semaphore slots;
  private final Duration maxWait;

  public ExecutionSlots(int capacity, Duration maxWait) {
    this.capacity = capacity;
    this.slots = new Semaphore(capacity, true);
    this.maxWait = maxWait;
  }

  /** Takes a slot, or returns false when none frees up within the wait. */
  public boolean tryAcquire() throws InterruptedException {
    return slots.tryAcquire(maxWait.toMillis(), TimeUnit.MILLISECONDS);
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
