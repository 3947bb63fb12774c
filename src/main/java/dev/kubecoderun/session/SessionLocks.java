package dev.kubecoderun.session;

import java.time.Duration;

/**
 * One run at a time per session, across every replica: a run loads the session's Python state,
 * runs, and saves it, so two runs at once would each save a state without the other's variables.
 * In-process on the embedded default, in Redis with the production stores.
 */
public interface SessionLocks {
  /**
   * Waits up to {@code wait} for the session to be free, then holds it until the lease is closed.
   *
   * @throws SessionBusyException the session stayed busy for the whole wait
   */
  Lease acquire(String sessionId, Duration wait) throws InterruptedException;

  /** A held session; {@link #close} frees it (once; later calls do nothing). */
  interface Lease extends AutoCloseable {
    @Override
    void close();
  }
}
