package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.ApiKeyStore;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.auth.RedisApiKeyStore;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.RedisFileMetadataStore;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.redis.RedisClients;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.RedisSessionLocks;
import dev.kubecoderun.session.RedisSessionStore;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionBusyException;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionStore;
import dev.kubecoderun.state.RedisStateStore;
import dev.kubecoderun.state.StateArchive;
import dev.kubecoderun.state.StateStore;
import dev.kubecoderun.testing.Eventually;
import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The same store contracts against a real redis-server and a real S3 server (S3Proxy), both started
 * by the tests on free loopback ports.
 */
@Tag("integration")
class RealStoresTest {
  static final RedisConnection REDIS = RealStores.redis(RealStores.uniquePrefix("contract"));
  static final ObjectStore S3 = RealStores.s3("kcr-contract");

  @AfterAll
  static void close() {
    REDIS.close();
  }

  /**
   * The index of all sessions is at sessions:index, beside each session's sessions:<id>: a session
   * named "index" is refused before it is written, and the index goes on working. On a prefix of
   * its own, so the index does not exist yet (where a session hash would take its place).
   */
  @Test
  void aSessionCannotBeMadeWhereTheIndexIs() {
    try (RedisConnection redis = RealStores.redis(RealStores.uniquePrefix("index"))) {
      SessionStore store = new RedisSessionStore(redis, Clock.systemUTC());
      Instant now = Instant.now().truncatedTo(ChronoUnit.MILLIS);
      assertThrows(
          IllegalArgumentException.class,
          () -> store.createOrReuse(new Session("index", now, now, null, null, "user-1")));
      Session s = store.createOrReuse(new Session(Ids.next(), now, now, null, null, "user-1"));
      assertTrue(store.find(s.id()).isPresent());
    }
  }

  @Nested
  class Sessions extends SessionStoreContract {
    private final SessionStore store = new RedisSessionStore(REDIS, Clock.systemUTC());

    @Override
    SessionStore store() {
      return store;
    }
  }

  @Nested
  class Expiry extends SessionExpiryContract {
    private final SessionStore sessions = new RedisSessionStore(REDIS, clock);
    private final FileMetadataStore metadata = new RedisFileMetadataStore(REDIS, Duration.ZERO);
    private final RedisStateStore states =
        new RedisStateStore(REDIS, Duration.ofHours(1), Clock.systemUTC(), new StateArchive(S3));
    private final SessionLocks locks = new RedisSessionLocks(REDIS);

    @Override
    SessionStore sessions() {
      return sessions;
    }

    @Override
    FileMetadataStore metadata() {
      return metadata;
    }

    @Override
    ObjectStore objects() {
      return S3;
    }

    @Override
    StateStore states() {
      return states;
    }

    @Override
    SessionLocks locks() {
      return locks;
    }

    @Override
    void archive(String sid) {
      assertTrue(states.archive(sid));
    }

    /** Redis drops the hash itself at expiry: the id stays taken until the clean-up emptied it. */
    @Test
    void aSessionWhoseHashRedisExpiredStartsEmptyWhenNamedAgain() throws Exception {
      String sid = expiredSessionWithStateAndFile();
      REDIS.run(j -> j.del(REDIS.key("sessions:" + sid)));

      resolver().createOwned(OTHER, sid);

      assertEmpty(sid);
    }
  }

  @Nested
  class FileMetadata extends FileMetadataStoreContract {
    private final FileMetadataStore store = new RedisFileMetadataStore(REDIS, Duration.ZERO);

    @Override
    FileMetadataStore store() {
      return store;
    }
  }

  @Nested
  class Objects extends ObjectStoreContract {
    @Override
    ObjectStore store() {
      return S3;
    }

    /**
     * minio keeps up to a part (8 MiB, 12 MiB while its buffer grows) in memory before it sends it:
     * an upload reserves that before minio reads a byte (never waiting on minio's own threads),
     * less for a smaller stream, and gives it all back once stored.
     */
    @Test
    void anUploadHoldsWhatMinioMayBufferFromBeforeItsFirstByteAndNothingAfter() throws Exception {
      MemoryBudget budget = new MemoryBudget(64L << 20, Duration.ofSeconds(1));
      MemoryBudget.Held held = budget.hold();
      long[] atFirstRead = {-1};
      InputStream source =
          new FilterInputStream(new ByteArrayInputStream(new byte[20 << 20])) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
              if (atFirstRead[0] < 0) {
                atFirstRead[0] = held.held();
              }
              return super.read(b, off, len);
            }
          };
      String key = "budget/" + Ids.next();
      assertEquals(20 << 20, S3.put(key, source, 32L << 20, null, held));
      assertEquals(12L << 20, atFirstRead[0], "a part and a half, before the first byte");
      assertEquals(0, budget.held(), "all given back");
      S3.delete(key);

      String small = "budget/" + Ids.next();
      long[] smallHeld = {-1};
      InputStream kib =
          new FilterInputStream(new ByteArrayInputStream(new byte[1024])) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
              smallHeld[0] = Math.max(smallHeld[0], held.held());
              return super.read(b, off, len);
            }
          };
      assertEquals(1024, S3.put(small, kib, 1024, null, held));
      assertTrue(
          smallHeld[0] > 0 && smallHeld[0] <= 128 * 1024,
          "a small stream, a little: " + smallHeld[0]);
      assertEquals(0, budget.held());
      S3.delete(small);
    }

    /**
     * A client gone mid-upload breaks the server's stream with an unchecked exception: that is the
     * caller's failure (an IOException), not the store's (UncheckedIOException, a store error).
     */
    @Test
    void anUploadWhoseStreamBreaksIsTheCallersFailureAndStoresNothing() {
      String key = "broken/" + Ids.next();
      InputStream broken =
          new InputStream() {
            int sent;

            @Override
            public int read() {
              if (sent++ > 1000) {
                throw new IllegalStateException("client gone");
              }
              return 'x';
            }
          };
      IOException e = assertThrows(IOException.class, () -> S3.put(key, broken, 1 << 20, null));
      assertTrue(e.getMessage().contains("client gone"), e.getMessage());
      assertThrows(Exception.class, () -> S3.open(key).orElseThrow());
    }

    @Test
    void anUploadWithNoRoomIsRefusedAndStoresNothing() throws Exception {
      MemoryBudget budget = new MemoryBudget(4L << 20, Duration.ofMillis(100));
      budget.hold().reserve(4L << 20);
      String key = "budget/" + Ids.next();
      assertThrows(
          MemoryBudgetExhaustedException.class,
          () ->
              S3.put(
                  key,
                  new ByteArrayInputStream(new byte[1 << 20]),
                  32L << 20,
                  null,
                  budget.hold()));
      assertTrue(S3.open(key).isEmpty(), "nothing stored");
      assertEquals(4L << 20, budget.held(), "the refused upload holds nothing");
    }
  }

  @Nested
  class States extends StateStoreContract {
    @Override
    StateStore store(Duration ttl) {
      return new RedisStateStore(REDIS, ttl, Clock.systemUTC(), null);
    }
  }

  /** With archival on, a state gone from Redis comes back from S3. */
  @Nested
  class ArchivedStates extends StateStoreContract {
    @Override
    StateStore store(Duration ttl) {
      return new RedisStateStore(REDIS, ttl, Clock.systemUTC(), new StateArchive(S3));
    }

    /**
     * GET /state peeks without the session's lock: an archived state it reads is not written back
     * into Redis, where it could land over the newer state a run saved meanwhile. A run's load
     * (under the lock) brings it back.
     */
    @Test
    void aPeekAtAnArchivedStateLeavesRedisAsItIsAndALoadBringsItBack() {
      StateStore states = store(Duration.ofHours(1));
      String sid = Ids.next();
      byte[] archived = {1, 2, 3};
      new StateArchive(S3).put(sid, Base64.getEncoder().encodeToString(archived));
      String key = REDIS.key("session:state:" + sid);

      assertArrayEquals(archived, states.peek(sid).orElseThrow().bytes());
      boolean written = REDIS.call(j -> j.exists(key));
      assertFalse(written, "peek wrote nothing back");

      byte[] newer = {4, 5};
      states.save(sid, newer);
      assertArrayEquals(newer, states.peek(sid).orElseThrow().bytes());

      states.delete(sid);
      new StateArchive(S3).put(sid, Base64.getEncoder().encodeToString(archived));
      assertArrayEquals(archived, states.load(sid).orElseThrow().bytes());
      boolean restored = REDIS.call(j -> j.exists(key));
      assertTrue(restored, "the load restored it");
    }
  }

  @Nested
  class ApiKeys extends ApiKeyStoreContract {
    private final ApiKeyStore store = new RedisApiKeyStore(REDIS);

    @Override
    ApiKeyStore store() {
      return store;
    }

    @Test
    void invalidateRemovesThePythonVersionsValidationCacheEntry() {
      String shortHash = Ids.next().substring(0, 16);
      String key = REDIS.key("api_keys:valid:" + shortHash);
      REDIS.run(j -> j.set(key, "1"));
      store.invalidate(shortHash);
      Boolean left = REDIS.call(j -> j.exists(key));
      assertFalse(left);
    }

    /**
     * A key's usage count is a counter too: Redis applies the increment, its reply is lost, and the
     * increment is not sent again (the request's use would count twice).
     */
    @Test
    void aUsageWhoseReplyIsLostIsCountedOnce() {
      String prefix = RealStores.uniquePrefix("lost-reply");
      try (LostReplyProxy proxy = LostReplyProxy.to(RedisServer.shared().port());
          RedisConnection viaProxy =
              RedisClients.connect(
                  Config.from(
                          Map.of(
                              "AUTH_ENABLED",
                              "false",
                              "REDIS_URL",
                              proxy.url(),
                              "REDIS_KEY_PREFIX",
                              prefix,
                              "REDIS_SOCKET_TIMEOUT",
                              "2"))
                      .redis())) {
        ApiKeyStore keys = new RedisApiKeyStore(viaProxy);
        ApiKeyRecord r =
            new ApiKeyRecord(
                ManagedApiKeys.sha256Hex("sk-" + Ids.next()),
                "sk-abcdefgh",
                "lost reply",
                Instant.now().truncatedTo(ChronoUnit.SECONDS),
                true,
                Map.of(),
                0,
                null);
        keys.save(r);
        proxy.loseTheReplyTo("EVAL");
        try {
          keys.recordUsage(r.keyHash(), Instant.now());
        } catch (UncheckedIOException expected) {
          // lost, as when Redis cannot be reached
        }
        assertEquals(1, proxy.lost());
        assertEquals(1, keys.find(r.keyHash()).orElseThrow().usageCount(), "counted once");
      }
    }

    /**
     * A usage count that is the first command after a Redis restart is not lost to a dead
     * connection.
     */
    @Test
    void aUsageThatIsTheFirstCommandAfterARedisRestartIsCounted() {
      ApiKeyStore keys = new RedisApiKeyStore(REDIS);
      ApiKeyRecord r =
          new ApiKeyRecord(
              ManagedApiKeys.sha256Hex("sk-" + Ids.next()),
              "sk-abcdefgh",
              "restart",
              Instant.now().truncatedTo(ChronoUnit.SECONDS),
              true,
              Map.of(),
              0,
              null);
      keys.save(r);
      RedisServer.shared().stop();
      RedisServer.shared().start();
      keys.recordUsage(r.keyHash(), Instant.now());
      assertEquals(1, keys.find(r.keyHash()).orElseThrow().usageCount());
    }

    /** An index entry whose record is gone (deleted between the two) is not listed. */
    @Test
    void anIndexEntryWithoutItsRecordIsNotListed() {
      String ghost = ManagedApiKeys.sha256Hex("sk-" + Ids.next());
      REDIS.run(j -> j.sadd(REDIS.key("api_keys:index"), ghost));
      try {
        assertTrue(store.list().stream().noneMatch(r -> r.keyHash().equals(ghost)));
      } finally {
        REDIS.run(j -> j.srem(REDIS.key("api_keys:index"), ghost));
      }
    }
  }

  @Nested
  class Programmatic extends ProgrammaticStoreContract {
    @Override
    dev.kubecoderun.execution.ProgrammaticStore replica() {
      return new dev.kubecoderun.execution.RedisProgrammaticStore(REDIS);
    }
  }

  /** Each replica() is another API replica: its own locks object on the same Redis. */
  @Nested
  class Locks extends SessionLocksContract {
    @Override
    SessionLocks replica() {
      return new RedisSessionLocks(REDIS);
    }

    @Test
    void theLockOfACrashedReplicaFreesItselfWithinItsLease() throws Exception {
      String sid = Ids.next();
      // What a replica that died while holding the session leaves: a key nobody renews.
      REDIS.run(
          j ->
              j.set(
                  REDIS.key("session_lock:" + sid),
                  "token-of-a-dead-replica",
                  redis.clients.jedis.params.SetParams.setParams().px(1500)));
      long start = System.nanoTime();
      replica().acquire(sid, Duration.ofSeconds(20)).close();
      long waitedMs = (System.nanoTime() - start) / 1_000_000;
      assertTrue(waitedMs >= 500 && waitedMs < 10_000, "waited " + waitedMs + " ms");
    }

    @Test
    void aRunLongerThanTheLeaseKeepsItsLock() throws Exception {
      String sid = Ids.next();
      Duration lease = Duration.ofMillis(600);
      SessionLocks shortLease = new RedisSessionLocks(REDIS, lease);
      String key = REDIS.key("session_lock:" + sid);
      SessionLocks.Lease held = shortLease.acquire(sid, Duration.ZERO);
      String token = REDIS.call(j -> j.get(key));
      long firstExpiry = REDIS.call(j -> j.pexpireTime(key));
      // The run goes on until its renewals, seen in Redis, have pushed the lock's expiry more than
      // three leases past the first one: without them it would have been lost three times over.
      Eventually.await(
          "renewals to keep the lock for more than three leases",
          Duration.ofSeconds(30),
          () -> {
            assertEquals(token, REDIS.call(j -> j.get(key)), "the lock was lost during the run");
            return REDIS.call(j -> j.pexpireTime(key)) > firstExpiry + 3 * lease.toMillis();
          });
      assertThrows(SessionBusyException.class, () -> replica().acquire(sid, Duration.ZERO));
      Long ttl = REDIS.call(j -> j.pttl(key));
      assertTrue(ttl > 0 && ttl <= 600, "lease left: " + ttl);
      held.close();
      Boolean left = REDIS.call(j -> j.exists(key));
      assertFalse(left, "released at the end of the run");
    }

    /**
     * A lease that expired while its run went on (Redis unreachable for a whole lease) and went to
     * another run is never taken back: the first holder neither renews nor releases it.
     */
    @Test
    void aLostLockIsNeitherRenewedNorReleasedByItsFormerHolder() throws Exception {
      String sid = Ids.next();
      String key = REDIS.key("session_lock:" + sid);
      SessionLocks.Lease lost =
          new RedisSessionLocks(REDIS, Duration.ofMillis(600)).acquire(sid, Duration.ZERO);
      // What another run leaves after taking the expired lease: its own token, with a short life.
      REDIS.run(
          j ->
              j.set(
                  key,
                  "token-of-another-run",
                  redis.clients.jedis.params.SetParams.setParams().px(1500)));
      // The former holder's renewals (every 200 ms) must not keep the other run's key alive.
      long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
      while (REDIS.call(j -> j.exists(key)) && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      Boolean left = REDIS.call(j -> j.exists(key));
      assertFalse(left, "the other run's lease expired on its own");
      SessionLocks.Lease next = replica().acquire(sid, Duration.ZERO);
      try {
        lost.close(); // must not free the next run's lock
        assertThrows(SessionBusyException.class, () -> replica().acquire(sid, Duration.ZERO));
      } finally {
        next.close();
      }
      replica().acquire(sid, Duration.ZERO).close();
    }

    @Test
    void redisDownIsAnUnavailableStoreNotABusySession() {
      RedisConnection nowhere =
          dev.kubecoderun.redis.RedisClients.connect(
              dev.kubecoderun.config.Config.from(
                      java.util.Map.of(
                          "AUTH_ENABLED",
                          "false",
                          "REDIS_URL",
                          "redis://127.0.0.1:" + FreePort.pick(),
                          "REDIS_SOCKET_CONNECT_TIMEOUT",
                          "1"))
                  .redis());
      assertThrows(
          java.io.UncheckedIOException.class,
          () -> new RedisSessionLocks(nowhere).acquire(Ids.next(), Duration.ofSeconds(5)));
    }
  }
}
