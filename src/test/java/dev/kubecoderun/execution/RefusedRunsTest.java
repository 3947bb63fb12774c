package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.LocalSessionLocks;
import dev.kubecoderun.session.LocalSessionStore;
import dev.kubecoderun.session.RedisSessionStore;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionStore;
import dev.kubecoderun.stores.RealStores;
import dev.kubecoderun.testing.Eventually;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run refused before it ran (503: no execution slot, no sandbox; 429: its principal's runs at
 * their cap) leaves no session behind: one tenant's refused retries, each with a new session id or
 * entity, filled the store with empty sessions until they expired. A session that existed before
 * the refused run stays.
 */
@Tag("integration")
class RefusedRunsTest {
  private static final Principal ALICE = Principal.apiKey("alice-key-0123456789");

  private static ExecCommand run(String sessionId, String entityId) {
    return new ExecCommand(
        ALICE, Language.PY, "print(1)", List.of(), sessionId, entityId, "user-1", List.of());
  }

  /** Every session id in the store, live or expired. */
  private static List<String> ids(SessionStore store) {
    List<String> all = new ArrayList<>();
    String cursor = SessionStore.IdPage.START;
    do {
      SessionStore.IdPage page = store.ids(cursor, 100);
      all.addAll(page.ids());
      cursor = page.next();
    } while (!SessionStore.IdPage.START.equals(cursor));
    return all;
  }

  /** A session of ALICE's, made a minute ago: one a refused run does not take away. */
  private static Session existing(SessionStore store) {
    Instant then = Instant.now().minusSeconds(60);
    Session existing = new Session(Ids.next(), then, then, null, null, "user-1");
    return store.createOrReuse(existing.ownedBy(ALICE.user(), ALICE.tenant()));
  }

  /**
   * A run in each kind of session (a new one of its own, a new id the client chose, an entity's
   * first, {@code existing}), each refused with {@code refusal}, which {@code check} looks at: no
   * sandbox to be had, {@code slots} execution slots, the principals' runs capped by {@code runs}.
   */
  private static <T extends RuntimeException> void refuseRuns(
      Path dir,
      SessionStore store,
      Session existing,
      int slots,
      PrincipalRuns runs,
      Class<T> refusal,
      Consumer<T> check)
      throws Exception {
    try (SandboxPool pool = LocalExecutions.noSandboxes()) {
      ExecutionService executions =
          LocalExecutions.service(
              dir,
              store,
              pool,
              new ExecutionSlots(slots, Duration.ZERO),
              new LocalSessionLocks(),
              new MemoryBudget(64 << 20),
              runs);
      for (ExecCommand cmd :
          List.of(
              run(null, null), // a new session of its own
              run(Ids.next(), null), // a new session id the client chose
              run(null, "agent-" + Ids.next()), // an entity's first session
              run(existing.id(), null))) { // a session that exists
        check.accept(assertThrows(refusal, () -> executions.execute(cmd, null, null)));
      }
    }
  }

  private static void refusedRunsLeaveNoSession(Path dir, SessionStore store) throws Exception {
    Session existing = existing(store);
    for (boolean noSlot : List.of(true, false)) {
      refuseRuns(
          dir,
          store,
          existing,
          noSlot ? 0 : 1,
          PrincipalRuns.uncapped(),
          ExecutionUnavailableException.class,
          e ->
              assertEquals(
                  noSlot
                      ? ExecutionUnavailableException.Reason.SLOTS_BUSY
                      : ExecutionUnavailableException.Reason.NO_SANDBOX,
                  e.reason()));
      assertEquals(List.of(existing.id()), ids(store), "only the session that existed before");
      assertTrue(store.find(existing.id()).isPresent(), "the session that existed stays live");
    }
  }

  /**
   * The cap of a principal's runs is met once the run holds its session, so a session may have been
   * made for the run by then: it goes with the refusal.
   */
  @Test
  void runsOverTheirPrincipalsCapLeaveNoSession(@TempDir Path dir) throws Exception {
    SessionStore store = new LocalSessionStore(dir, Clock.systemUTC());
    Session existing = existing(store);
    PrincipalRuns runs = new PrincipalRuns(0, 1, Set.of()); // ALICE: a managed key
    runs.enter(ALICE); // its one run, in progress
    refuseRuns(dir, store, existing, 1, runs, TooManyRunsException.class, e -> {});
    assertEquals(List.of(existing.id()), ids(store), "only the session that existed before");
  }

  @Test
  void refusedRunsLeaveNoSessionInRedis(@TempDir Path dir) throws Exception {
    String prefix = RealStores.uniquePrefix("refused");
    try (RedisConnection redis = RealStores.redis(prefix)) {
      SessionStore store = new RedisSessionStore(redis, Clock.systemUTC());
      refusedRunsLeaveNoSession(dir, store);
      // Nor an entry of an entity's sets (an entity's claim of an id ends on its own, in 30 s).
      String existing = ids(store).get(0);
      Set<String> keys = redis.call(j -> j.keys(prefix + "*"));
      assertEquals(
          Set.of(prefix + "sessions:" + existing, prefix + "sessions:index"),
          keys.stream()
              .filter(k -> !k.startsWith(prefix + "entity_claim:"))
              .collect(Collectors.toSet()));
    }
  }

  @Test
  void refusedRunsLeaveNoSessionInTheEmbeddedStore(@TempDir Path dir) throws Exception {
    refusedRunsLeaveNoSession(dir, new LocalSessionStore(dir, Clock.systemUTC()));
  }

  /**
   * A stop that begins while a run waits for its session's lock (the session already made for it):
   * the run is refused once it holds the lock, as the service is stopping, and its session goes.
   */
  @Test
  void aRunRefusedByAStopAfterItsSessionWasMadeLeavesNoSession(@TempDir Path dir) throws Exception {
    SessionStore store = new LocalSessionStore(dir, Clock.systemUTC());
    LocalSessionLocks locks = new LocalSessionLocks();
    ExecutionSlots slots = new ExecutionSlots(1, Duration.ZERO);
    String sid = Ids.next();
    try (SandboxPool pool = LocalExecutions.noSandboxes()) {
      ExecutionService executions =
          LocalExecutions.service(
              dir, store, pool, slots, locks, new MemoryBudget(64 << 20), PrincipalRuns.uncapped());
      CompletableFuture<Throwable> refused;
      SessionLocks.Lease held = locks.acquire(sid, Duration.ofSeconds(5));
      try {
        refused =
            CompletableFuture.supplyAsync(
                () -> {
                  try {
                    executions.execute(run(sid, null), null, null);
                    return null;
                  } catch (Throwable t) {
                    return t;
                  }
                });
        Eventually.await(
            "the run's session to be made", Duration.ofSeconds(30), () -> !ids(store).isEmpty());
        assertEquals(List.of(sid), ids(store), "the run's session, the id its client chose");
        slots.drain(Duration.ZERO);
      } finally {
        held.close();
      }
      Throwable t = refused.get(30, TimeUnit.SECONDS);
      assertEquals(
          ExecutionUnavailableException.Reason.STOPPING,
          assertInstanceOf(ExecutionUnavailableException.class, t).reason());
    }
    assertEquals(List.of(), ids(store), "the session made for the refused run is gone");
  }
}
