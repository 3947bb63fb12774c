package dev.kubecoderun.api;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;

/**
 * Aborts a response whose client stops reading (and a read of a request body whose client stops
 * sending, Bodies: "writing" is then the read). A blocking socket write has no timeout of its own,
 * so a client that keeps the connection open without reading would hold the handler, its file or S3
 * connection, forever. While the handler's thread is inside a write, a watcher checks it; past the
 * timeout it interrupts that (virtual) thread, which closes the socket channel it is blocked on and
 * ends the write with an exception.
 */
final class SendWatchdog implements AutoCloseable {
  private static final long IDLE = Long.MIN_VALUE;

  private final Thread writer = Thread.currentThread();
  private final long timeoutNanos;
  private final long periodNanos;
  private final Thread watcher;
  private volatile long writeStarted = IDLE;
  private boolean closed; // guarded by this
  private volatile boolean fired;

  SendWatchdog(Duration timeout) {
    this.timeoutNanos = timeout.toNanos();
    this.periodNanos = Math.max(timeoutNanos / 4, Duration.ofMillis(50).toNanos());
    this.watcher = Thread.ofVirtual().name("send-watchdog").start(this::watch);
  }

  /** The writer is about to block in a write. */
  void writing() {
    writeStarted = System.nanoTime();
  }

  /** The write is done. */
  void written() {
    writeStarted = IDLE;
  }

  /** True once the watchdog interrupted the writer. */
  boolean fired() {
    return fired;
  }

  private void watch() {
    while (true) {
      LockSupport.parkNanos(periodNanos);
      synchronized (this) {
        if (closed) {
          return;
        }
        long started = writeStarted;
        if (started != IDLE && System.nanoTime() - started > timeoutNanos) {
          fired = true;
          writer.interrupt();
          return;
        }
      }
    }
  }

  /** Stops watching; called by the writer. An interrupt meant for this response ends here. */
  @Override
  public void close() {
    synchronized (this) {
      closed = true;
    }
    LockSupport.unpark(watcher);
    if (fired) {
      Thread.interrupted();
    }
  }
}
