package dev.kubecoderun.session;

import dev.kubecoderun.redis.RedisConnection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Session locks shared by every replica: key {@code {p}session_lock:{id}} holds the holder's random
 * token, set with NX and a lease ({@link #LEASE}) that the holder renews every third of it while
 * the run goes on. A replica that dies stops renewing, so its lock frees itself within one lease.
 * Runs of this replica first queue in arrival order in-process, so only one of them at a time polls
 * Redis (every 10 ms at first, backing off to 250 ms). Release and renewal only touch the key while
 * it still holds the token, so a lease that expired and went to another run is never taken back.
 * One key per lock: works on Redis Cluster too.
 */
public final class RedisSessionLocks implements SessionLocks {
  private static final Logger LOG = Logger.getLogger(RedisSessionLocks.class.getName());

  /** Long enough for a renewal to survive a Redis failover pause, short for a crashed replica. */
  public static final Duration LEASE = Duration.ofSeconds(30);

  /** Taken, or already ours (a retried SET whose first reply was lost). */
  private static final String TAKE =
      """
      if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
      if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
      return 0
      """;

  private static final String RENEW =
      """
      if redis.call('GET', KEYS[1]) == ARGV[1] then
        return redis.call('PEXPIRE', KEYS[1], ARGV[2])
      end
      return 0
      """;

  private static final String RELEASE =
      """
      if redis.call('GET', KEYS[1]) == ARGV[1] then
        return redis.call('DEL', KEYS[1])
      end
      return 0
      """;

  private final RedisConnection redis;
  private final Duration lease;
  private final LocalSessionLocks local = new LocalSessionLocks();

  public RedisSessionLocks(RedisConnection redis) {
    this(redis, LEASE);
  }

  /** {@code lease}: shorter in tests. */
  public RedisSessionLocks(RedisConnection redis, Duration lease) {
    this.redis = redis;
    this.lease = lease;
  }

  @Override
  public Lease acquire(String sessionId, Duration wait) throws InterruptedException {
    long deadline = System.nanoTime() + wait.toNanos();
    Lease inProcess = local.acquire(sessionId, wait);
    try {
      String key = redis.key("session_lock:" + sessionId);
      String token = Ids.next();
      long pauseMs = 10;
      while (!tryTake(key, token)) {
        long leftMs = (deadline - System.nanoTime()) / 1_000_000;
        if (leftMs <= 0) {
          throw new SessionBusyException(sessionId, wait);
        }
        // Jitter, so replicas waiting for the same session do not poll in step.
        long pause = pauseMs / 2 + ThreadLocalRandom.current().nextLong(pauseMs / 2 + 1);
        Thread.sleep(Math.min(pause, leftMs) + 1);
        pauseMs = Math.min(pauseMs * 2, 250);
      }
      Thread renewer =
          Thread.ofVirtual().name("session-lock-" + sessionId).start(() -> renew(key, token));
      AtomicBoolean open = new AtomicBoolean(true);
      return () -> {
        if (open.getAndSet(false)) {
          renewer.interrupt();
          release(key, token);
          inProcess.close();
        }
      };
    } catch (RuntimeException | InterruptedException e) {
      inProcess.close();
      throw e;
    }
  }

  private boolean tryTake(String key, String token) {
    Object reply =
        redis.call(
            j -> j.eval(TAKE, List.of(key), List.of(token, Long.toString(lease.toMillis()))));
    return Long.valueOf(1).equals(reply);
  }

  /** Renews the lease until interrupted (the run is over) or the lock is found lost. */
  private void renew(String key, String token) {
    List<String> args = List.of(token, Long.toString(lease.toMillis()));
    while (true) {
      try {
        Thread.sleep(lease.dividedBy(3));
      } catch (InterruptedException e) {
        return;
      }
      try {
        Object renewed = redis.call(j -> j.eval(RENEW, List.of(key), args));
        if (!Long.valueOf(1).equals(renewed)) {
          LOG.warning(
              "session lock "
                  + key
                  + " expired before its run ended (Redis unreachable for a lease?): another run of"
                  + " the session may start alongside it");
          return;
        }
      } catch (RuntimeException e) {
        // Redis unreachable for now: try again at the next tick, the lease may still hold.
        LOG.log(Level.FINE, "session lock renewal failed for " + key, e);
      }
    }
  }

  private void release(String key, String token) {
    try {
      redis.call(j -> j.eval(RELEASE, List.of(key), List.of(token)));
    } catch (RuntimeException e) {
      // Left to its lease, which frees it within LEASE.
      LOG.log(Level.WARNING, "session lock " + key + " not released: " + e.getMessage(), e);
    }
  }
}
