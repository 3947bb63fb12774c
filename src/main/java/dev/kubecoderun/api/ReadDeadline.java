package dev.kubecoderun.api;

import dev.kubecoderun.common.DeadlineTimers;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A deadline for a whole read, which a client sending a byte now and then could otherwise drag out
 * for ever: no socket timeout bounds a whole body, only each wait for a byte. Past the deadline the
 * reading thread is interrupted; a virtual thread interrupted while blocked on a socket has the
 * socket closed, and its read fails.
 */
final class ReadDeadline implements AutoCloseable {
  private static final ScheduledThreadPoolExecutor TIMER = DeadlineTimers.create("read-deadlines");

  private final Thread reader = Thread.currentThread();
  private final ReentrantLock lock = new ReentrantLock();
  private final ScheduledFuture<?> timer;
  private boolean over;
  private boolean passed;

  /** Starts the deadline for reads of the current thread until {@link #close}. */
  ReadDeadline(Duration deadline) {
    this.timer = TIMER.schedule(this::pass, deadline.toNanos(), TimeUnit.NANOSECONDS);
  }

  private void pass() {
    lock.lock();
    try {
      if (!over) {
        passed = true;
        reader.interrupt();
      }
    } finally {
      lock.unlock();
    }
  }

  /** Whether the deadline passed before {@link #close} (the read was cut short by it). */
  boolean passed() {
    lock.lock();
    try {
      return passed;
    } finally {
      lock.unlock();
    }
  }

  /** Ends the deadline; an interrupt it made is not left on the thread. */
  @Override
  public void close() {
    lock.lock();
    try {
      over = true;
      if (passed) {
        Thread.interrupted();
      }
    } finally {
      lock.unlock();
    }
    timer.cancel(false);
  }
}
