package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.admin.KeyAdmin;
import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.ApiKeyStore;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.auth.RateWindow;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.testing.Eventually;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** What every ApiKeyStore does; run against the embedded stores and against Redis. */
abstract class ApiKeyStoreContract {
  abstract ApiKeyStore store();

  /** The same records as a new process would find them (the store on disk: read again). */
  ApiKeyStore reopened() {
    return store();
  }

  /**
   * {@link #store()}, with {@code meanwhile} run once right after the first call made through it:
   * what another request does while an admin change is under way. The store is real; only the order
   * of the two is fixed. A change that read the record first and wrote it back (a find, then a
   * save) would have the other request land between the two; one made in a single step of the store
   * has it land after, and the step's own atomicity is the store's (LocalApiKeyStoreTest, Redis's
   * script).
   */
  private ApiKeyStore withMeanwhile(Runnable meanwhile) {
    AtomicBoolean ran = new AtomicBoolean();
    return (ApiKeyStore)
        Proxy.newProxyInstance(
            ApiKeyStore.class.getClassLoader(),
            new Class<?>[] {ApiKeyStore.class},
            (proxy, method, args) -> {
              Object result;
              try {
                result = method.invoke(store(), args);
              } catch (InvocationTargetException e) {
                throw e.getCause();
              }
              if (!ran.getAndSet(true)) {
                meanwhile.run();
              }
              return result;
            });
  }

  private final Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);

  private ApiKeyRecord record(boolean enabled) {
    String hash = ManagedApiKeys.sha256Hex("sk-" + Ids.next());
    return new ApiKeyRecord(
        hash,
        "sk-abcdefgh",
        "ci key",
        now,
        enabled,
        Map.of(RateWindow.MINUTE, 5L, RateWindow.DAY, 100L),
        0,
        null);
  }

  @Test
  void aSavedRecordIsFoundWithItsLimits() {
    ApiKeyRecord r = record(true);
    store().save(r);
    assertEquals(r, store().find(r.keyHash()).orElseThrow());
    assertTrue(store().find(ManagedApiKeys.sha256Hex("unknown")).isEmpty());
  }

  @Test
  void recordsAreListedWithTheirMetadataAndDeletedForGood() {
    ApiKeyRecord r =
        new ApiKeyRecord(
            ManagedApiKeys.sha256Hex("sk-" + Ids.next()),
            "sk-abcdefgh",
            "listed",
            now,
            true,
            Map.of(),
            0,
            null,
            Map.of("team", "data", "env", "prod"));
    store().save(r);
    assertTrue(store().list().contains(r), "listed: " + store().list());
    assertEquals(Map.of("team", "data", "env", "prod"), store().find(r.keyHash()).get().metadata());
    assertTrue(store().delete(r.keyHash()));
    assertTrue(store().find(r.keyHash()).isEmpty());
    assertTrue(store().list().stream().noneMatch(x -> x.keyHash().equals(r.keyHash())));
    assertFalse(store().delete(r.keyHash()), "nothing left to delete");
  }

  @Test
  void everyRecordIsListedOnceWithItsOwnFields() {
    List<ApiKeyRecord> saved = new ArrayList<>();
    for (int i = 0; i < 25; i++) {
      ApiKeyRecord r = record(i % 2 == 0);
      saved.add(r);
      store().save(r);
    }
    store().recordUsage(saved.get(3).keyHash(), now.plusSeconds(5));
    saved.set(3, store().find(saved.get(3).keyHash()).orElseThrow());
    List<ApiKeyRecord> listed = store().list();
    for (ApiKeyRecord r : saved) {
      assertEquals(
          List.of(r),
          listed.stream().filter(x -> x.keyHash().equals(r.keyHash())).toList(),
          "listed once, as found");
    }
    assertEquals(1, saved.get(3).usageCount());
  }

  @Test
  void usageIsCountedOnTheRecordAndNeverCreatesOne() {
    ApiKeyRecord r = record(true);
    store().save(r);
    store().recordUsage(r.keyHash(), now.plusSeconds(1));
    store().recordUsage(r.keyHash(), now.plusSeconds(2));
    ApiKeyRecord used = store().find(r.keyHash()).orElseThrow();
    assertEquals(2, used.usageCount());
    assertEquals(now.plusSeconds(2), used.lastUsedAt());
    String ghost = ManagedApiKeys.sha256Hex("ghost");
    store().recordUsage(ghost, now);
    assertTrue(store().find(ghost).isEmpty());
  }

  /**
   * A change names only what it changes: the other fields stay, the uses counted before it stay,
   * and new limits replace every window.
   */
  @Test
  void aChangeWritesOnlyTheFieldsItNames() {
    ApiKeyRecord r = record(true);
    store().save(r);
    store().recordUsage(r.keyHash(), now.plusSeconds(1));
    assertTrue(store().update(r.keyHash(), "renamed", null, null));
    assertEquals(
        new ApiKeyRecord(
            r.keyHash(),
            r.keyPrefix(),
            "renamed",
            r.createdAt(),
            true,
            r.limits(),
            1,
            now.plusSeconds(1),
            r.metadata()),
        reopened().find(r.keyHash()).orElseThrow());
    assertTrue(store().update(r.keyHash(), null, false, Map.of(RateWindow.HOUR, 7L)));
    ApiKeyRecord changed = reopened().find(r.keyHash()).orElseThrow();
    assertEquals("renamed", changed.name());
    assertFalse(changed.enabled());
    assertEquals(Map.of(RateWindow.HOUR, 7L), changed.limits());
    assertEquals(1, changed.usageCount());
    assertTrue(store().update(r.keyHash(), null, null, Map.of()));
    assertEquals(Map.of(), reopened().find(r.keyHash()).orElseThrow().limits(), "unlimited");
  }

  /** A change of a key revoked before it finds no record and writes none. */
  @Test
  void aChangeOfARevokedKeyCreatesNothing() {
    ApiKeyRecord r = record(true);
    store().save(r);
    assertTrue(store().delete(r.keyHash()));
    assertFalse(store().update(r.keyHash(), "renamed", true, Map.of()));
    assertTrue(reopened().find(r.keyHash()).isEmpty());
    assertTrue(reopened().list().stream().noneMatch(x -> x.keyHash().equals(r.keyHash())));
  }

  /**
   * An admin PATCH and a DELETE (another replica's) of the same key at once: the DELETE lands after
   * the PATCH's first call to the store, and the key stays revoked, also after a restart (a PATCH
   * that wrote back what it had read would bring it back).
   */
  @Test
  void aRevocationDuringAChangeIsNotUndone() {
    ApiKeyRecord r = record(true);
    store().save(r);
    KeyAdmin admin =
        new KeyAdmin(
            withMeanwhile(() -> assertTrue(store().delete(r.keyHash()))),
            List.of(),
            Clock.systemUTC());
    // The change's one step found the key (the DELETE comes after it): done, then revoked.
    assertEquals(KeyAdmin.Outcome.DONE, admin.update(r.keyHash(), "renamed", true, Map.of()));
    assertTrue(reopened().find(r.keyHash()).isEmpty(), "still revoked");
    assertTrue(reopened().list().stream().noneMatch(x -> x.keyHash().equals(r.keyHash())));
  }

  /**
   * A use of the key counted while an admin PATCH is under way (after its first call to the store)
   * is not written over, as a PATCH that wrote back the record it had read would.
   */
  @Test
  void aUseCountedDuringAChangeIsKept() {
    ApiKeyRecord r = record(true);
    store().save(r);
    KeyAdmin admin =
        new KeyAdmin(
            withMeanwhile(() -> store().recordUsage(r.keyHash(), now.plusSeconds(1))),
            List.of(),
            Clock.systemUTC());
    assertEquals(KeyAdmin.Outcome.DONE, admin.update(r.keyHash(), "renamed", null, null));
    ApiKeyRecord changed = reopened().find(r.keyHash()).orElseThrow();
    assertEquals("renamed", changed.name());
    assertEquals(1, changed.usageCount());
    assertEquals(now.plusSeconds(1), changed.lastUsedAt());
  }

  @Test
  void countersAreAtomicUnderConcurrentIncrements() throws Exception {
    String shortHash = Ids.next().substring(0, 16);
    String counter = RateWindow.MINUTE.counter(now);
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try {
      List<Callable<Long>> calls = new ArrayList<>();
      for (int i = 0; i < 200; i++) {
        calls.add(() -> store().increment(shortHash, counter, Duration.ofSeconds(120)));
      }
      List<Long> seen = new ArrayList<>();
      for (var f : pool.invokeAll(calls)) {
        seen.add(f.get());
      }
      assertEquals(200, seen.stream().distinct().count(), "every increment saw its own count");
      assertEquals(200L, seen.stream().mapToLong(Long::longValue).max().orElseThrow());
    } finally {
      pool.shutdownNow();
    }
    store().decrement(shortHash, counter);
    assertEquals(200, store().increment(shortHash, counter, Duration.ofSeconds(120)));
  }

  @Test
  void aCounterStartsAgainAfterItsTtl() throws InterruptedException {
    String shortHash = Ids.next().substring(0, 16);
    assertEquals(1, store().increment(shortHash, "second:x", Duration.ofSeconds(1)));
    assertEquals(2, store().increment(shortHash, "second:x", Duration.ofSeconds(1)));
    // Redis keeps the time itself, in whole seconds: the shortest TTL, and increments until the
    // counter starts again. They count too but do not extend its life (only the first sets it).
    Eventually.await(
        "the counter's 1 s TTL to run out",
        Duration.ofSeconds(30),
        () -> store().increment(shortHash, "second:x", Duration.ofSeconds(1)) == 1);
  }
}
