package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.admin.KeyAdmin;
import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.ApiKeyStore;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.auth.RedisApiKeyStore;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.RedisFileMetadataStore;
import dev.kubecoderun.files.SessionUsage;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.memory.Room;
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
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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

  /** A new enabled managed key without limits, never used. */
  static ApiKeyRecord newKey(String name) {
    return new ApiKeyRecord(
        ManagedApiKeys.sha256Hex("sk-" + Ids.next()),
        "sk-abcdefgh",
        name,
        Instant.now().truncatedTo(ChronoUnit.SECONDS),
        true,
        Map.of(),
        0,
        null);
  }

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

  /**
   * REDIS_KEY_PREFIX is any text: one with glob characters still finds its own idle states to
   * archive (the SCAN pattern is the prefix taken literally), and only its own.
   */
  @Test
  void idleStatesAreFoundUnderAPrefixWithGlobCharacters() {
    String unique = RealStores.uniquePrefix("glob");
    try (RedisConnection globbed = RealStores.redis(unique.replace("glob", "[g]*?\\"));
        RedisConnection other = RealStores.redis(unique.replace("glob", "gX"))) {
      RedisStateStore mine =
          new RedisStateStore(globbed, Duration.ofHours(1), Clock.systemUTC(), null);
      RedisStateStore theirs =
          new RedisStateStore(other, Duration.ofHours(1), Clock.systemUTC(), null);
      mine.save("MineSession", new byte[] {2, 1});
      theirs.save("TheirSession", new byte[] {2, 2});
      assertEquals(
          List.of("MineSession"),
          mine.idleStates(Duration.ZERO, 10).stream()
              .map(RedisStateStore.IdleState::sessionId)
              .toList());
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

    /** An upload's record of {@code size} bytes in session {@code sid}, made now. */
    private StoredFile upload(String sid, long size) {
      return file(
          sid, "a.csv", size, StoredFile.Kind.UPLOAD, Instant.now().truncatedTo(ChronoUnit.MICROS));
    }

    /**
     * Redis going down after the first or the second write of a save (its reply lost, the retry
     * refused): the session's count and its listing agree either way. With the set entry written
     * first, a save cut there left an id counted toward MAX_SESSION_FILES and never listed.
     */
    @Test
    void aSaveCutShortByRedisGoingDownLeavesTheCountAndTheListingAgreeing() {
      for (String write : List.of("SADD", "EVAL")) {
        String prefix = RealStores.uniquePrefix("cut-save");
        try (LostReplyProxy proxy = LostReplyProxy.to(RedisServer.shared().port());
            RedisConnection viaProxy = RealStores.redisAt(proxy.url(), prefix);
            RedisConnection direct = RealStores.redis(prefix)) {
          String sid = Ids.next();
          proxy.goDownAfter(write);
          assertThrows(
              UncheckedIOException.class,
              () -> new RedisFileMetadataStore(viaProxy, Duration.ZERO).save(upload(sid, 3)),
              write);
          assertEquals(1, proxy.lost(), write);
          FileMetadataStore after = new RedisFileMetadataStore(direct, Duration.ZERO);
          assertEquals(after.list(sid).size(), after.usage(sid).files(), "cut after " + write);
        }
      }
    }

    /**
     * A file id in the session's set without its record (what a save cut between its two writes
     * left when the set entry went first, or a delete cut between them) counted toward the
     * session's MAX_SESSION_FILES but was never listed. The count and the listing now agree, and
     * the dangling id leaves the set.
     */
    @Test
    void aFileIdInTheSetWithoutItsRecordIsNeitherCountedNorListed() {
      String sid = Ids.next();
      StoredFile file = upload(sid, 3);
      store.save(file);
      String setKey = REDIS.key("session_files:" + sid);
      String dangling = Ids.next();
      REDIS.run(j -> j.sadd(setKey, dangling));

      assertEquals(1, store.usage(sid).files(), "only the file with a record");
      assertEquals(List.of(file.id()), store.list(sid).stream().map(f -> f.id()).toList());
      boolean left = REDIS.call(j -> j.sismember(setKey, dangling));
      assertFalse(left, "dropped from the set");
      assertEquals(1, store.usage(sid).files());
    }

    /**
     * A record Redis expired before its set entry (or a delete cut short between its writes) leaves
     * no phantom bytes: the session's usage is its records' sizes, not a counter beside them.
     */
    @Test
    void aFileWhoseRecordIsGoneUsesNoneOfItsSessionsStorage() {
      String sid = Ids.next();
      StoredFile gone = upload(sid, 1000);
      store.save(gone);
      store.save(upload(sid, 1000));
      REDIS.run(j -> j.del(REDIS.key("files:" + sid + ":" + gone.id())));

      assertEquals(new SessionUsage(1, 1000), store.usage(sid));
      boolean left = REDIS.call(j -> j.sismember(REDIS.key("session_files:" + sid), gone.id()));
      assertFalse(left, "dropped from the set");
    }
  }

  @Nested
  class Objects extends ObjectStoreContract {
    @Override
    ObjectStore store() {
      return S3;
    }

    /**
     * An upload keeps up to a part (8 MiB, 12 MiB while its buffer grows) in memory before minio
     * sends it: it reserves that before it reads a byte (on the caller's thread), less for a
     * smaller stream, and gives it all back once stored.
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
     * The caller's stream failing is the caller's failure, never a store error (an
     * UncheckedIOException, which the API counts and answers 503): its IOException as it is, an
     * UncheckedIOException as its cause, anything else (a client gone, a malformed body) as it is,
     * for the API's own handlers. Nothing is stored.
     */
    @Test
    void anUploadWhoseStreamBreaksIsTheCallersFailureAndStoresNothing() throws IOException {
      String key = "broken/" + Ids.next();
      IllegalStateException gone =
          assertThrows(
              IllegalStateException.class,
              () -> S3.put(key, breaking(new IllegalStateException("client gone")), 1 << 20, null));
      assertEquals("client gone", gone.getMessage());
      IOException io =
          assertThrows(
              IOException.class,
              () ->
                  S3.put(
                      key,
                      breaking(new UncheckedIOException(new IOException("reset"))),
                      1 << 20,
                      null));
      assertEquals("reset", io.getMessage());
      assertTrue(S3.open(key).isEmpty(), "nothing stored");
    }

    private static InputStream breaking(RuntimeException failure) {
      return new InputStream() {
        int sent;

        @Override
        public int read() {
          if (sent++ > 1000) {
            throw failure;
          }
          return 'x';
        }
      };
    }

    /** minio's part size (S3ObjectStore.PART_SIZE): a stream that ends within it is one PUT. */
    static final int PART = 8 << 20;

    /**
     * Sizes either side of one PUT and a multipart upload come back byte for byte, read from a
     * stream that gives odd-sized chunks.
     */
    @Test
    void objectsAroundAPartComeBackByteForByte() throws Exception {
      for (int size : new int[] {0, 1, PART - 1, PART, PART + 1, PART * 5 / 2}) {
        byte[] content = new byte[size];
        new java.util.Random(size).nextBytes(content);
        String key = "parts/" + Ids.next();
        assertEquals(size, S3.put(key, new Chunked(content, 100_003), 3L * PART, null), "" + size);
        assertArrayEquals(content, readAll(S3.open(key).orElseThrow()), "content of " + size);
        S3.delete(key);
      }
      String empty = "parts/" + Ids.next();
      assertEquals(0, S3.put(empty, new ByteArrayInputStream(new byte[0]), 0, null));
      assertArrayEquals(new byte[0], readAll(S3.open(empty).orElseThrow()));
      S3.delete(empty);
      String exact = "parts/" + Ids.next();
      assertEquals(PART, S3.put(exact, new ByteArrayInputStream(new byte[PART]), PART, null));
      assertEquals(PART, S3.list(exact, null, 10).get(0).size(), "a limit of exactly a part");
      S3.delete(exact);
    }

    /** The content type is stored, by one PUT as by a multipart upload. */
    @Test
    void theContentTypeIsStoredWithOnePutAndWithParts() throws Exception {
      io.minio.MinioAsyncClient raw =
          io.minio.MinioAsyncClient.builder()
              .endpoint(S3Server.shared().endpoint())
              .credentials(S3Server.ACCESS_KEY, S3Server.SECRET_KEY)
              .build();
      try {
        for (int size : new int[] {10, PART + 10}) {
          String key = "parts/" + Ids.next();
          S3.put(key, new ByteArrayInputStream(new byte[size]), 2L * PART, "text/csv");
          var stat =
              raw.statObject(
                      io.minio.StatObjectArgs.builder().bucket("kcr-contract").object(key).build())
                  .get(30, TimeUnit.SECONDS);
          assertEquals("text/csv", stat.contentType(), "of " + size + " bytes");
          assertEquals(size, stat.size());
          S3.delete(key);
        }
      } finally {
        raw.close();
      }
    }

    /** Past the limit in the second part: the multipart upload is aborted, nothing is left. */
    @Test
    void tooLargeInTheSecondPartAbortsTheUploadAndStoresNothing() throws Exception {
      String key = "parts/" + Ids.next();
      assertThrows(
          dev.kubecoderun.files.TooLargeException.class,
          () -> S3.put(key, new Chunked(new byte[PART + 2000], 65536), PART + 1000L, "text/plain"));
      assertTrue(S3.open(key).isEmpty(), "nothing stored");
      assertTrue(S3.list(key, null, 10).isEmpty(), "nothing listed");
      // S3Proxy lists no unfinished multipart uploads: its files show them (a begun one does).
      io.minio.MinioAsyncClient raw =
          io.minio.MinioAsyncClient.builder()
              .endpoint(S3Server.shared().endpoint())
              .credentials(S3Server.ACCESS_KEY, S3Server.SECRET_KEY)
              .build();
      try {
        String begun = "parts/" + Ids.next();
        String id =
            raw.createMultipartUploadAsync("kcr-contract", null, begun, null, null)
                .get(30, TimeUnit.SECONDS)
                .result()
                .uploadId();
        assertFalse(serverFilesOf(begun).isEmpty(), "a begun upload has files");
        raw.abortMultipartUploadAsync("kcr-contract", null, begun, id, null, null)
            .get(30, TimeUnit.SECONDS);
        assertEquals(List.of(), serverFilesOf(begun), "an aborted one has none");
      } finally {
        raw.close();
      }
      assertEquals(List.of(), serverFilesOf(key), "nothing of the refused upload left");
    }

    /** The server's files whose path names {@code key}'s last segment (a unique id). */
    private static List<String> serverFilesOf(String key) throws IOException {
      String id = key.substring(key.lastIndexOf('/') + 1);
      try (var files = java.nio.file.Files.walk(S3Server.shared().bucketDir("kcr-contract"))) {
        return files.map(Object::toString).filter(f -> f.contains(id)).toList();
      }
    }

    /**
     * Uploads whose clients send a few bytes and then nothing, as many as minio's shared pool has
     * threads and one more, hold up no other upload: the stream of each is read on its caller's
     * thread only. Then they go on, and are stored whole.
     */
    @Test
    void stalledUploadsHoldUpNoOtherUpload() throws Exception {
      int pool = ForkJoinPool.getCommonPoolParallelism();
      int stalled = Math.max(2, pool + 1);
      CountDownLatch release = new CountDownLatch(1);
      AtomicInteger waiting = new AtomicInteger();
      ExecutorService threads = Executors.newCachedThreadPool();
      try {
        List<String> keys = new ArrayList<>();
        List<Future<Long>> puts = new ArrayList<>();
        byte[] content = new byte[3000];
        new java.util.Random(7).nextBytes(content);
        for (int i = 0; i < stalled; i++) {
          String key = "stalled/" + Ids.next();
          keys.add(key);
          InputStream source =
              new Chunked(content, 10) {
                @Override
                public int read(byte[] b, int off, int len) throws IOException {
                  if (position() == 10) {
                    waiting.incrementAndGet();
                    try {
                      if (!release.await(2, TimeUnit.MINUTES)) {
                        throw new IOException("never released");
                      }
                    } catch (InterruptedException e) {
                      throw new java.io.InterruptedIOException();
                    }
                  }
                  return super.read(b, off, len);
                }
              };
          puts.add(threads.submit(() -> S3.put(key, source, 1 << 20, null)));
        }
        // Every thread that reads a stalled stream is waiting (on the old code, all of minio's).
        Eventually.await(
            "the stalled uploads to wait for their clients",
            Duration.ofSeconds(30),
            () -> waiting.get() >= Math.min(stalled, pool));
        String other = "stalled/" + Ids.next();
        Future<Long> small =
            threads.submit(
                () -> S3.put(other, new ByteArrayInputStream(new byte[] {1, 2, 3}), 10, null));
        assertEquals(3, small.get(30, TimeUnit.SECONDS), "another upload, not held up");
        assertArrayEquals(new byte[] {1, 2, 3}, readAll(S3.open(other).orElseThrow()));
        S3.delete(other);

        release.countDown();
        for (int i = 0; i < stalled; i++) {
          assertEquals(content.length, puts.get(i).get(30, TimeUnit.SECONDS));
          assertArrayEquals(content, readAll(S3.open(keys.get(i)).orElseThrow()));
          S3.delete(keys.get(i));
        }
      } finally {
        release.countDown();
        threads.shutdown();
      }
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

  private static byte[] readAll(InputStream in) throws IOException {
    try (in) {
      return in.readAllBytes();
    }
  }

  /** Gives {@code content} in chunks of at most {@code chunk} bytes. */
  static class Chunked extends InputStream {
    private final byte[] content;
    private final int chunk;
    private int position;

    Chunked(byte[] content, int chunk) {
      this.content = content;
      this.chunk = chunk;
    }

    int position() {
      return position;
    }

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (position == content.length) {
        return -1;
      }
      int n = Math.min(Math.min(len, chunk), content.length - position);
      System.arraycopy(content, position, b, off, n);
      position += n;
      return n;
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

      assertArrayEquals(archived, states.peek(sid, Room.NONE).orElseThrow().bytes());
      boolean written = REDIS.call(j -> j.exists(key));
      assertFalse(written, "peek wrote nothing back");

      byte[] newer = {4, 5};
      states.save(sid, newer);
      assertArrayEquals(newer, states.peek(sid, Room.NONE).orElseThrow().bytes());

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
        ApiKeyRecord r = newKey("lost reply");
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
      ApiKeyRecord r = newKey("restart");
      keys.save(r);
      RedisServer.shared().stop();
      RedisServer.shared().start();
      keys.recordUsage(r.keyHash(), Instant.now());
      assertEquals(1, keys.find(r.keyHash()).orElseThrow().usageCount());
    }

    /** A change of a revoked key leaves neither a partial record nor an index entry. */
    @Test
    void aChangeOfARevokedKeyWritesNothingToRedis() {
      ApiKeyRecord r = newKey("revoked");
      store.save(r);
      store.delete(r.keyHash());
      assertFalse(store.update(r.keyHash(), "renamed", true, Map.of()));
      Boolean record = REDIS.call(j -> j.exists(REDIS.key("api_keys:records:" + r.keyHash())));
      Boolean indexed = REDIS.call(j -> j.sismember(REDIS.key("api_keys:index"), r.keyHash()));
      assertFalse(record);
      assertFalse(indexed);
    }

    /**
     * Records written into Redis by another tool: one without created_at is listed after the dated
     * ones; one with a malformed date or limit is skipped (listed nowhere, its key not accepted),
     * and every other key is still listed.
     */
    @Test
    void anUnreadableRecordIsSkippedAndAnUndatedOneListedLast() {
      ApiKeyRecord good = newKey("good");
      store.save(good);
      String undated = ManagedApiKeys.sha256Hex("sk-" + Ids.next());
      String badDate = ManagedApiKeys.sha256Hex("sk-" + Ids.next());
      String badLimit = ManagedApiKeys.sha256Hex("sk-" + Ids.next());
      Map<String, Map<String, String>> written =
          Map.of(
              undated,
              Map.of("name", "undated", "created_at", "", "enabled", "true"),
              badDate,
              Map.of("name", "bad date", "created_at", "yesterday", "enabled", "true"),
              badLimit,
              Map.of(
                  "name",
                  "bad limit",
                  "created_at",
                  "2025-01-02T03:04:05.123456+00:00",
                  "enabled",
                  "true",
                  "rate_limits_hourly",
                  "lots"));
      written.forEach(
          (hash, fields) ->
              REDIS.run(
                  j -> {
                    j.hset(REDIS.key("api_keys:records:" + hash), fields);
                    j.sadd(REDIS.key("api_keys:index"), hash);
                  }));
      try {
        List<String> listed =
            new KeyAdmin(store, List.of(), Clock.systemUTC())
                .list().stream().map(k -> k.record().keyHash()).toList();
        assertTrue(listed.contains(good.keyHash()), "the good key is listed");
        assertEquals(undated, listed.getLast(), "the undated key comes last");
        assertFalse(listed.contains(badDate), "malformed created_at: skipped");
        assertFalse(listed.contains(badLimit), "malformed limit: skipped");
        assertTrue(store.find(badLimit).isEmpty(), "its key is not accepted");
      } finally {
        written.keySet().forEach(store::delete);
      }
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
