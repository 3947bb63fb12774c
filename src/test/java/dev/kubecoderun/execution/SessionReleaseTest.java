package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.RedisSessionLocks;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.stores.RealStores;
import dev.kubecoderun.stores.RedisServer;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import redis.clients.jedis.Jedis;
import redis.clients.jedis.args.ClientPauseMode;

/**
 * A run frees its session in Redis however it ends, even when a cancel of its programmatic run
 * interrupts its thread just as it releases the session's lock: the lock must not stay held (the
 * session blocked) until its lease runs out.
 */
@Tag("integration")
class SessionReleaseTest {
  private static final Principal ALICE = Principal.apiKey("alice-key-0123456789");

  @TempDir Path dir;
  private final RedisConnection redis = RealStores.redis(RealStores.uniquePrefix("release"));
  private SandboxPool pool;

  @AfterEach
  void close() {
    if (pool != null) {
      pool.close();
    }
    redis.close();
  }

  @Test
  void aRunInterruptedAsItReleasesItsSessionStillFreesIt() throws Exception {
    RedisSessionLocks redisLocks = new RedisSessionLocks(redis);
    // The Redis locks, with a cancel's interrupt landing on the run's thread as it frees the
    // session, while Redis takes a moment to answer (paused, as during a failover or a slow
    // command): a call that has to wait for its reply would be broken by the interrupt.
    SessionLocks cancelledAtRelease =
        (sessionId, wait) -> {
          SessionLocks.Lease lease = redisLocks.acquire(sessionId, wait);
          Thread run = Thread.currentThread();
          return () -> {
            try (Jedis admin = new Jedis(URI.create(RedisServer.shared().url()))) {
              admin.clientPause(300, ClientPauseMode.ALL);
            }
            run.interrupt(); // as a cancel interrupts the run's owner
            lease.close();
          };
        };
    // No slot is ever free: the run ends as soon as it holds its session.
    ExecutionService executions = service(cancelledAtRelease, new ExecutionSlots(0, Duration.ZERO));
    String sid = "S-" + Ids.next();

    CompletableFuture<Boolean> interruptedAfter = new CompletableFuture<>();
    Thread.ofVirtual()
        .start(
            () -> {
              try {
                executions.execute(
                    new ExecCommand(
                        ALICE, Language.BASH, "true", List.of(), sid, null, null, List.of()),
                    null,
                    null);
                interruptedAfter.completeExceptionally(new AssertionError("the run got a slot"));
              } catch (ExecutionUnavailableException e) {
                interruptedAfter.complete(Thread.currentThread().isInterrupted());
              } catch (Throwable e) {
                interruptedAfter.completeExceptionally(e);
              }
            });

    assertTrue(
        interruptedAfter.get(30, TimeUnit.SECONDS),
        "the cancel's interrupt is kept for the caller");
    boolean locked = redis.call(j -> j.exists(redis.key("session_lock:" + sid)));
    assertFalse(locked, "the session's lock is still held in Redis");
    // Another replica takes the session at once.
    new RedisSessionLocks(redis).acquire(sid, Duration.ZERO).close();
  }

  private ExecutionService service(SessionLocks locks, ExecutionSlots slots) {
    pool = LocalExecutions.noSandboxes();
    return LocalExecutions.service(dir, pool, slots, locks, new MemoryBudget(64 << 20));
  }
}
