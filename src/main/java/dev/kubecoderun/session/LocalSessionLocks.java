package dev.kubecoderun.session;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Session locks of one process: a fair semaphore per session, so waiting runs go in arrival order.
 * An entry lives only while a run holds or waits for it.
 */
public final class LocalSessionLocks implements SessionLocks {
  private static final class Slot {
    final Semaphore permit = new Semaphore(1, true);
    int users; // holders and waiters; guarded by the map's monitor
  }

  private final Map<String, Slot> slots = new HashMap<>();

  @Override
  public Lease acquire(String sessionId, Duration wait) throws InterruptedException {
    Slot slot;
    synchronized (slots) {
      slot = slots.computeIfAbsent(sessionId, k -> new Slot());
      slot.users++;
    }
    boolean held = false;
    try {
      held = slot.permit.tryAcquire(wait.toNanos(), TimeUnit.NANOSECONDS);
      if (!held) {
        throw new SessionBusyException(sessionId, wait);
      }
    } finally {
      if (!held) {
        leave(sessionId, slot);
      }
    }
    AtomicBoolean open = new AtomicBoolean(true);
    return () -> {
      if (open.getAndSet(false)) {
        slot.permit.release();
        leave(sessionId, slot);
      }
    };
  }

  private void leave(String sessionId, Slot slot) {
    synchronized (slots) {
      if (--slot.users == 0) {
        slots.remove(sessionId);
      }
    }
  }

  /** Sessions held or waited for now (for tests: nothing is kept once the runs are done). */
  int tracked() {
    synchronized (slots) {
      return slots.size();
    }
  }
}
