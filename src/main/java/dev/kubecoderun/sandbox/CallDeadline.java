package dev.kubecoderun.sandbox;

import dev.kubecoderun.common.DeadlineTimers;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * An absolute deadline on one call to a runner. A read timeout bounds each wait for a byte, not the
 * whole answer: on Kubernetes user code shares its pod with the runner and may answer in its place,
 * a byte every few seconds, and hold the run's slot, session, memory and pod for as long as the pod
 * lives. Helidon's client has no timeout for a whole exchange, so past the deadline the calling
 * thread is interrupted while it waits on the runner's connection: a virtual thread (every caller:
 * a request's, a programmatic run's owner, the pool's) interrupted while blocked on a socket has
 * that socket closed, and the call ends at once. Outside those waits (a file's bytes going on to
 * the file store) nothing is interrupted, so no other connection is broken: the next wait on the
 * runner fails at once instead ({@link #onRunner}).
 */
final class CallDeadline implements AutoCloseable {
  private static final ScheduledThreadPoolExecutor TIMER =
      DeadlineTimers.create("runner-deadlines");

  /** The deadline had passed when the caller went back to waiting on the runner. */
  static final class PassedException extends java.io.IOException {
    PassedException() {
      super("deadline passed");
    }
  }

  private final Thread caller = Thread.currentThread();
  private final Duration limit;
  private ScheduledFuture<?> timer; // guarded by this; null while the clock is stopped
  private long left; // guarded by this: nanoseconds left, as of countingSince
  private long countingSince; // guarded by this
  private long runs; // guarded by this: how often the clock was started
  private boolean onRunner = true; // guarded by this
  private boolean passed; // guarded by this
  private boolean interrupted; // guarded by this: the caller has an interrupt of ours

  /** Starts the deadline of a call of the current thread, which waits on the runner from now. */
  CallDeadline(Duration limit) {
    this.limit = limit;
    synchronized (this) {
      left = limit.toNanos();
      startClock();
    }
  }

  private void startClock() {
    countingSince = System.nanoTime();
    long run = ++runs;
    timer = TIMER.schedule(() -> pass(run), left, TimeUnit.NANOSECONDS);
  }

  /**
   * The timer of the {@code run}th start of the clock fired: the deadline passed, unless the clock
   * was stopped since (it then counts what is left when it starts again).
   */
  private synchronized void pass(long run) {
    if (run != runs || timer == null) {
      return;
    }
    passed = true;
    if (onRunner) {
      interrupt();
    }
  }

  private void interrupt() {
    interrupted = true;
    caller.interrupt();
  }

  /** Whether the deadline passed: whatever the call failed with, that is why. */
  synchronized boolean passed() {
    return passed;
  }

  /**
   * The caller waits on the runner again (reads the next piece of a file).
   *
   * @throws PassedException the deadline passed meanwhile
   */
  synchronized void onRunner() throws PassedException {
    backOnRunner();
    if (passed) {
      throw new PassedException();
    }
  }

  /**
   * The caller is back on the runner's connection, to close it: with the deadline passed, what it
   * does there fails at once (it is interrupted), but what it did meanwhile stands.
   */
  synchronized void backOnRunner() {
    onRunner = true;
    if (passed) {
      interrupt();
    }
  }

  /** The caller does something else: no interrupt of ours may reach it there. */
  synchronized void offRunner() {
    onRunner = false;
    clearInterrupt();
  }

  /**
   * The caller waits for what no runner decides (room in the memory budget, which the replica's
   * other requests hold): the clock stops, and no interrupt of ours reaches it there. Runner time
   * is what the deadline bounds: a run that ends near its limit on a busy replica is not cut while
   * it waits for memory to read its answer into.
   */
  synchronized void stopClock() {
    offRunner();
    if (timer != null) {
      timer.cancel(false);
      timer = null;
      left -= System.nanoTime() - countingSince;
    }
  }

  /** The caller waits on the runner again: the clock goes on with the time left. */
  synchronized void startClockAgain() {
    if (timer == null && !passed) {
      if (left > 0) {
        startClock();
      } else {
        passed = true;
      }
    }
    backOnRunner();
  }

  /** The 503 of a call cut short by the deadline ({@code what}: which call). */
  SandboxException exceeded(String what, Throwable cause) {
    return new SandboxException(
        "the sandbox's runner did not finish "
            + what
            + " within "
            + (limit.toSeconds() > 0 ? limit.toSeconds() + " s" : limit.toMillis() + " ms")
            + ": the sandbox is given up",
        cause);
  }

  /** Ends the deadline; an interrupt it made is not left on the thread. */
  @Override
  public synchronized void close() {
    if (timer != null) {
      timer.cancel(false);
    }
    offRunner();
  }

  /** Deadlines not yet passed nor ended (for tests). */
  static int pending() {
    return TIMER.getQueue().size();
  }

  private void clearInterrupt() {
    if (interrupted) {
      Thread.interrupted();
      interrupted = false;
    }
  }
}
