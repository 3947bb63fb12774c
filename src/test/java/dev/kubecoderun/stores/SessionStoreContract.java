package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionExpiredException;
import dev.kubecoderun.session.SessionStore;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** What every SessionStore does; run against the embedded store and against Redis. */
abstract class SessionStoreContract {
  abstract SessionStore store();

  private final Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);

  private Session fresh(String entity) {
    return new Session(Ids.next(), now, now, null, entity, "user-1");
  }

  @Test
  void aCreatedSessionIsFoundWithItsEntityAndUser() {
    Session s = store().createOrReuse(fresh("agent-1"));
    Session found = store().find(s.id()).orElseThrow();
    assertEquals(s.id(), found.id());
    assertEquals("agent-1", found.entityId());
    assertEquals("user-1", found.userId());
    assertEquals(now, found.createdAt());
    assertTrue(store().find(Ids.next()).isEmpty());
  }

  @Test
  void concurrentFirstRequestsOfAnEntityClaimOneSessionId() throws Exception {
    String entity = "agent-claim-" + Ids.next();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Future<String>> claims = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        claims.add(pool.submit(() -> store().claimEntity(null, null, entity, Ids.next())));
      }
      Set<String> ids = new HashSet<>();
      for (Future<String> c : claims) {
        ids.add(c.get());
      }
      assertEquals(1, ids.size(), "one id for all: " + ids);
      String claimed = ids.iterator().next();
      assertEquals(
          claimed,
          store().claimEntity(null, null, entity, Ids.next()),
          "a later first request too");
      String other = Ids.next();
      assertEquals(
          other, store().claimEntity(null, null, "another-" + entity, other), "another entity");
    } finally {
      pool.shutdown();
    }
  }

  private Session owned(String entity, String owner) {
    return new Session(Ids.next(), now, now, null, entity, "user-1", owner, "tenant-of-" + owner);
  }

  @Test
  void anOwnedSessionKeepsItsOwnerAndIsNotTakenOver() {
    Session s = store().createOrReuse(owned(null, "key:a"));
    assertEquals("key:a", store().find(s.id()).orElseThrow().owner());
    assertEquals("tenant-of-key:a", store().find(s.id()).orElseThrow().tenant());
    Session again =
        store().createOrReuse(new Session(s.id(), now, now, null, null, null, "key:b", "t"), true);
    assertEquals("key:a", again.owner(), "an owner is never replaced");
    assertEquals("key:a", store().claim(s.id(), "key:b", "t").orElseThrow().owner());
    assertTrue(store().claim(Ids.next(), "key:b", "t").isEmpty(), "nothing to claim");
  }

  @Test
  void aSessionWithoutOwnerIsTakenOverOnceAndOnlyWhenAsked() throws Exception {
    Session legacy = store().createOrReuse(fresh(null));
    assertTrue(legacy.isLegacy());
    Session reused =
        store()
            .createOrReuse(
                new Session(legacy.id(), now, now, null, null, null, "key:a", "t"), false);
    assertTrue(reused.isLegacy(), "not claimed unless asked");
    // Claimed by whichever of two principals comes first; the other sees the winner.
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      Future<Session> a =
          pool.submit(() -> store().claim(legacy.id(), "key:a", "ta").orElseThrow());
      Future<Session> b =
          pool.submit(() -> store().claim(legacy.id(), "key:b", "tb").orElseThrow());
      String winner = a.get().owner();
      assertEquals(winner, b.get().owner());
      assertEquals(winner, store().find(legacy.id()).orElseThrow().owner());
    } finally {
      pool.shutdown();
    }
    Session other = store().createOrReuse(fresh(null));
    Session claimed =
        store()
            .createOrReuse(
                new Session(other.id(), now, now, null, null, null, "key:c", "tc"), true);
    assertEquals("key:c", claimed.owner());
    assertEquals("tc", claimed.tenant());
  }

  @Test
  void entitySessionsAreFoundPerOwner() {
    String entity = "agent-own-" + Ids.next().substring(0, 8).replace("-", "_");
    Session a = store().createOrReuse(owned(entity, "key:a"));
    Session b = store().createOrReuse(owned(entity, "jwt:t/b"));
    assertEquals(a.id(), store().findByEntity("key:a", "user-1", entity).orElseThrow().id());
    assertEquals(b.id(), store().findByEntity("jwt:t/b", "user-1", entity).orElseThrow().id());
    assertTrue(store().findByEntity("key:c", "user-1", entity).isEmpty());
    assertTrue(store().findByEntity(null, "user-1", entity).isEmpty(), "no session without owner");
    Session legacy = store().createOrReuse(fresh(entity));
    assertEquals(legacy.id(), store().findByEntity(null, "user-1", entity).orElseThrow().id());
    store().claim(legacy.id(), "key:c", "tc");
    assertTrue(
        store().findByEntity(null, "user-1", entity).isEmpty(), "claimed: no longer ownerless");
    assertEquals(legacy.id(), store().findByEntity("key:c", "user-1", entity).orElseThrow().id());
    String ida = Ids.next();
    assertEquals(ida, store().claimEntity("key:a", null, entity, ida));
    String idb = Ids.next();
    assertEquals(idb, store().claimEntity("key:b", null, entity, idb), "claims are per owner");
    assertEquals(ida, store().claimEntity("key:a", null, entity, Ids.next()));
  }

  /**
   * With an API key every LibreChat user is one principal: an entity's sessions are found per user
   * id, null only by null, and first requests claim an id per user.
   */
  @Test
  void entitySessionsAreFoundPerUserOfAnOwner() {
    String entity = "agent-usr-" + Ids.next().substring(0, 8).replace("-", "_");
    Session a = store().createOrReuse(ofUser(entity, "key:a", "alice"));
    Session none = store().createOrReuse(ofUser(entity, "key:a", null));
    assertEquals(a.id(), store().findByEntity("key:a", "alice", entity).orElseThrow().id());
    assertEquals(none.id(), store().findByEntity("key:a", null, entity).orElseThrow().id());
    assertTrue(store().findByEntity("key:a", "bob", entity).isEmpty(), "none of bob's");
    Session b = store().createOrReuse(ofUser(entity, "key:a", "bob"));
    for (int i = 0; i < 5; i++) {
      assertEquals(b.id(), store().findByEntity("key:a", "bob", entity).orElseThrow().id());
      assertEquals(a.id(), store().findByEntity("key:a", "alice", entity).orElseThrow().id());
    }
    Session legacyOfAlice = store().createOrReuse(ofUser(entity, null, "alice"));
    assertEquals(
        legacyOfAlice.id(), store().findByEntity(null, "alice", entity).orElseThrow().id());
    assertTrue(store().findByEntity(null, "bob", entity).isEmpty(), "alice's legacy one is hers");
    assertEquals(
        legacyOfAlice.id(),
        store().findByEntity(null, "alice", entity).orElseThrow().id(),
        "and stays found after bob's look");

    String ida = Ids.next();
    assertEquals(ida, store().claimEntity("key:a", "alice", entity, ida));
    String idb = Ids.next();
    assertEquals(idb, store().claimEntity("key:a", "bob", entity, idb), "claims are per user");
    String idn = Ids.next();
    assertEquals(idn, store().claimEntity("key:a", null, entity, idn), "no user is one too");
    assertEquals(ida, store().claimEntity("key:a", "alice", entity, Ids.next()));

    store().delete(a.id());
    assertTrue(store().findByEntity("key:a", "alice", entity).isEmpty(), "forgotten");
  }

  private Session ofUser(String entity, String owner, String user) {
    return new Session(
        Ids.next(), now, now, null, entity, user, owner, owner == null ? null : "t-" + owner);
  }

  @Test
  void createOrReuseReturnsTheExistingSessionTouched() {
    Session first = store().createOrReuse(fresh("agent-2"));
    Instant later = now.plusSeconds(5);
    Session again =
        store().createOrReuse(new Session(first.id(), later, later, null, "other-entity", "other"));
    assertEquals(first.createdAt(), again.createdAt(), "the first creation wins");
    assertEquals("agent-2", again.entityId());
    assertEquals(later, again.lastActivity());
  }

  @Test
  void replicasCreatingTheSameSessionAtOnceAllGetTheOneThatWon() throws Exception {
    String id = Ids.next();
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Callable<Session>> racers = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        String user = "user-" + i;
        racers.add(() -> store().createOrReuse(new Session(id, now, now, null, null, user)));
      }
      Set<String> winners = new HashSet<>();
      for (Future<Session> f : pool.invokeAll(racers)) {
        winners.add(f.get().userId());
      }
      assertEquals(1, winners.size(), "every racer sees the same stored session: " + winners);
    } finally {
      pool.shutdownNow();
    }
  }

  /** Not before the expired one is forgotten (by then emptied: see ExpiredSessions). */
  @Test
  void expiredSessionsAreNotFoundAndMayBeCreatedAnewOnceForgotten() {
    Instant past = now.minus(Duration.ofHours(2));
    Session expired =
        new Session(Ids.next(), past, past, past.plusSeconds(3600), "agent-x", "user-1");
    store().createOrReuse(expired);
    assertTrue(store().find(expired.id()).isEmpty());
    assertTrue(store().findByEntity(null, "user-1", "agent-x").isEmpty());
    assertTrue(store().hasExpired(expired.id()));
    Session renewal = new Session(expired.id(), now, now, null, "agent-x", "u");
    assertThrows(SessionExpiredException.class, () -> store().createOrReuse(renewal));
    assertTrue(store().deleteIfExpired(expired.id()));
    Session renewed = store().createOrReuse(renewal);
    assertEquals(now, renewed.createdAt());
    assertFalse(store().hasExpired(expired.id()));
    assertFalse(store().deleteIfExpired(expired.id()), "never a live session");
    assertEquals(now, store().find(expired.id()).orElseThrow().createdAt());
    assertFalse(store().hasExpired(Ids.next()), "an unknown id has nothing to empty");
  }

  @Test
  void findByEntityReturnsALiveSessionOfThatEntity() {
    String entity = "agent-" + Ids.next();
    assertTrue(store().findByEntity(null, "user-1", entity).isEmpty());
    Session s = store().createOrReuse(fresh(entity));
    assertEquals(s.id(), store().findByEntity(null, "user-1", entity).orElseThrow().id());
    store().delete(s.id());
    assertTrue(store().findByEntity(null, "user-1", entity).isEmpty());
  }

  @Test
  void touchMovesLastActivityAndNeverCreatesASession() {
    Session s = store().createOrReuse(fresh(null));
    store().touch(s.id(), now.plusSeconds(60));
    assertEquals(now.plusSeconds(60), store().find(s.id()).orElseThrow().lastActivity());
    String ghost = Ids.next();
    store().touch(ghost, now);
    assertTrue(store().find(ghost).isEmpty());
  }

  @Test
  void idsPagesThroughEverySessionAndDeleteForgetsOne() {
    Set<String> created = new HashSet<>();
    for (int i = 0; i < 25; i++) {
      created.add(store().createOrReuse(fresh(null)).id());
    }
    Set<String> seen = new HashSet<>();
    String cursor = SessionStore.IdPage.START;
    int pages = 0;
    do {
      SessionStore.IdPage page = store().ids(cursor, 10);
      seen.addAll(page.ids());
      cursor = page.next();
      pages++;
    } while (!SessionStore.IdPage.START.equals(cursor) && pages < 1000);
    assertTrue(seen.containsAll(created));

    String gone = created.iterator().next();
    store().delete(gone);
    assertTrue(store().find(gone).isEmpty());
    assertFalse(allIds().contains(gone));
  }

  private Set<String> allIds() {
    Set<String> all = new HashSet<>();
    String cursor = SessionStore.IdPage.START;
    do {
      SessionStore.IdPage page = store().ids(cursor, 100);
      all.addAll(page.ids());
      cursor = page.next();
    } while (!SessionStore.IdPage.START.equals(cursor));
    return all;
  }
}
