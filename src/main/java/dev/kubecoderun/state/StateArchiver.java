package dev.kubecoderun.state;

import dev.kubecoderun.common.ThrottledWarning;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.session.SessionBusyException;
import dev.kubecoderun.session.SessionLocks;
import java.time.Clock;
import java.time.Duration;
import java.util.logging.Logger;

/**
 * Moves idle Python state from Redis to the object store (the Redis copy is left to expire) and
 * deletes archives older than STATE_ARCHIVE_TTL_DAYS. Each cycle does a bounded amount of work.
 *
 * <p>A state is archived under its session's lock, the one its deletes take (DELETE /state, a run
 * that ends with no state, the emptying of an expired session): a copy read before a delete and put
 * after it would bring the deleted state back at the next load, for whoever has the session id
 * then. A session held by another is skipped, not waited for: the next cycle takes it.
 */
public final class StateArchiver {
  private static final Logger LOG = Logger.getLogger(StateArchiver.class.getName());
  static final int ARCHIVES_PER_CYCLE = 100;
  static final int EXPIRY_CHECKS_PER_CYCLE = 1000;

  /** Old archives are looked for every sixth cycle, as in the reference. */
  static final int EXPIRY_EVERY_CYCLES = 6;

  private final RedisStateStore states;
  private final SessionLocks locks;
  private final StateArchive archive;
  private final Config.State config;
  private final Clock clock;
  private final MemoryBudget memory;
  private final ThrottledWarning noRoom = new ThrottledWarning(LOG, Duration.ofHours(1));
  private long cycles;
  private String expiryCursor;

  public StateArchiver(
      RedisStateStore states,
      SessionLocks locks,
      StateArchive archive,
      Config.State config,
      Clock clock,
      MemoryBudget memory) {
    this.states = states;
    this.locks = locks;
    this.archive = archive;
    this.config = config;
    this.clock = clock;
    this.memory = memory;
  }

  /** One cycle; returns how many states it archived. */
  public synchronized int runOnce() throws InterruptedException {
    int archived = 0;
    for (RedisStateStore.IdleState idle :
        states.idleStates(config.archiveAfter(), ARCHIVES_PER_CYCLE)) {
      SessionLocks.Lease held;
      try {
        held = locks.acquire(idle.sessionId(), Duration.ZERO);
      } catch (SessionBusyException e) {
        continue; // a run or a state write: it may change or delete the state; the next cycle
      }
      // What archiving a state buffers (~5 times its base64: a 50 MiB state ~330 MiB) comes out
      // of the requests' budget, as the same state loaded by a run does: on a busy replica the
      // state waits for a later cycle rather than take the heap from under them, or hold up
      // the requests waiting for room (and the session's runs, whose lock it holds).
      MemoryBudget.Held buffered = memory.holdIfFree();
      try {
        if (states.archive(idle.sessionId(), buffered)) {
          archived++;
        }
      } catch (MemoryBudgetExhaustedException e) {
        // No room now (or ever: a state larger than the budget affords, which no run could
        // load either): the state stays in Redis.
        noRoom.warn(
            "no room in REQUEST_MEMORY_BUDGET_MB to archive the Python state of session "
                + idle.sessionId()
                + ": left in Redis for a later cycle");
      } finally {
        buffered.releaseAll();
        held.close();
      }
    }
    if (cycles++ % EXPIRY_EVERY_CYCLES == 0) {
      expiryCursor =
          archive.expire(
              config.archiveTtl(), clock.instant(), expiryCursor, EXPIRY_CHECKS_PER_CYCLE);
    }
    if (archived > 0) {
      LOG.info("archived the Python state of " + archived + " idle session(s)");
    }
    return archived;
  }
}
