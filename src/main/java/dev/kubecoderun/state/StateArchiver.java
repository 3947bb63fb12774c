package dev.kubecoderun.state;

import dev.kubecoderun.config.Config;
import java.time.Clock;
import java.util.logging.Logger;

/**
 * Moves idle Python state from Redis to the object store (the Redis copy is left to expire) and
 * deletes archives older than STATE_ARCHIVE_TTL_DAYS. Each cycle does a bounded amount of work.
 */
public final class StateArchiver {
  private static final Logger LOG = Logger.getLogger(StateArchiver.class.getName());
  static final int ARCHIVES_PER_CYCLE = 100;
  static final int EXPIRY_CHECKS_PER_CYCLE = 1000;

  /** Old archives are looked for every sixth cycle, as in the reference. */
  static final int EXPIRY_EVERY_CYCLES = 6;

  private final RedisStateStore states;
  private final StateArchive archive;
  private final Config.State config;
  private final Clock clock;
  private long cycles;
  private String expiryCursor;

  public StateArchiver(
      RedisStateStore states, StateArchive archive, Config.State config, Clock clock) {
    this.states = states;
    this.archive = archive;
    this.config = config;
    this.clock = clock;
  }

  /** One cycle; returns how many states it archived. */
  public synchronized int runOnce() {
    int archived = 0;
    for (RedisStateStore.IdleState idle :
        states.idleStates(config.archiveAfter(), ARCHIVES_PER_CYCLE)) {
      if (states.archive(idle.sessionId())) {
        archived++;
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
