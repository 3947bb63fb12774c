package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.auth.RateWindow;
import dev.kubecoderun.auth.RedisApiKeyStore;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.RedisFileMetadataStore;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.session.RedisSessionLocks;
import dev.kubecoderun.session.RedisSessionStore;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionBusyException;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.state.RedisStateStore;
import dev.kubecoderun.state.StateArchive;
import dev.kubecoderun.state.StateArchiver;
import dev.kubecoderun.state.StateWrites;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Data an operator migrates from the Python version, written with its key layout and formats, is
 * read by the Redis stores; and Python state archival round-trips through S3.
 */
@Tag("integration")
class PythonDataTest {
  static final String PREFIX = RealStores.uniquePrefix("python");
  static final RedisConnection REDIS = RealStores.redis(PREFIX);

  @AfterAll
  static void close() {
    REDIS.close();
  }

  @Test
  void sessionsFilesStateAndKeysWrittenByThePythonVersionAreRead() {
    REDIS.run(
        j -> {
          j.hset(
              PREFIX + "sessions:PySession0000000000001",
              Map.of(
                  "session_id", "PySession0000000000001",
                  "status", "active",
                  "created_at", "2025-03-01T10:00:00.123456+00:00",
                  "last_activity", "2025-03-01T10:05:00+00:00",
                  "expires_at", "9999-12-31T23:59:59+00:00",
                  "files", "{}",
                  "metadata", "{\"entity_id\": \"asst_1\", \"user_id\": \"u1\"}"));
          j.sadd(PREFIX + "entity_sessions:asst_1", "PySession0000000000001");
          j.hset(
              PREFIX + "files:PySession0000000000001:PyFile000000000000001",
              Map.of(
                  "file_id", "PyFile000000000000001",
                  "filename", "sales.csv",
                  "content_type", "text/csv",
                  "object_key", "sessions/PySession0000000000001/uploads/PyFile000000000000001",
                  "session_id", "PySession0000000000001",
                  "created_at", "2025-03-01T10:01:00.5",
                  "size", "123",
                  "path", "/sales.csv",
                  "type", "upload"));
          j.sadd(PREFIX + "session_files:PySession0000000000001", "PyFile000000000000001");
          j.set(
              PREFIX + "session:state:PySession0000000000001",
              Base64.getEncoder().encodeToString(new byte[] {2, 1, 2, 3}));
          j.hset(
              PREFIX + "api_keys:records:" + ManagedApiKeys.sha256Hex("sk-python-key"),
              Map.of(
                  "key_hash", ManagedApiKeys.sha256Hex("sk-python-key"),
                  "key_prefix", "sk-python",
                  "name", "from python",
                  "created_at", "2025-01-01T00:00:00+00:00",
                  "enabled", "true",
                  "rate_limits_per_minute", "10",
                  "rate_limits_hourly", "",
                  "usage_count", "7",
                  "last_used_at", "",
                  "source", "managed"));
        });

    Session s =
        new RedisSessionStore(REDIS, Clock.systemUTC())
            .findByEntity(null, "u1", "asst_1")
            .orElseThrow();
    assertEquals("PySession0000000000001", s.id());
    assertEquals("u1", s.userId());
    assertEquals(Instant.parse("2025-03-01T10:00:00.123456Z"), s.createdAt());

    StoredFile f =
        new RedisFileMetadataStore(REDIS, Duration.ZERO)
            .find("PySession0000000000001", "PyFile000000000000001")
            .orElseThrow();
    assertEquals("sales.csv", f.name());
    assertEquals(StoredFile.Kind.UPLOAD, f.kind());
    assertEquals(123, f.size());
    assertEquals(Instant.parse("2025-03-01T10:01:00.5Z"), f.createdAt());

    assertArrayEquals(
        new byte[] {2, 1, 2, 3},
        new RedisStateStore(REDIS, Duration.ofHours(2), Clock.systemUTC(), null)
            .load("PySession0000000000001")
            .orElseThrow()
            .bytes());

    ApiKeyRecord key =
        new RedisApiKeyStore(REDIS).find(ManagedApiKeys.sha256Hex("sk-python-key")).orElseThrow();
    assertTrue(key.enabled());
    assertEquals(Map.of(RateWindow.MINUTE, 10L), key.limits());
    assertEquals(7, key.usageCount());
  }

  @Test
  void idleStateIsArchivedToS3AndRestoredWhenRedisNoLongerHasIt() throws Exception {
    StateArchive archive = new StateArchive(RealStores.s3("kcr-archive"));
    RedisStateStore states =
        new RedisStateStore(REDIS, Duration.ofHours(2), Clock.systemUTC(), archive);
    // Archive anything idle for 0 s, i.e. everything, so the test need not wait.
    Config.State cfg =
        new Config.State(
            true,
            Duration.ofHours(2),
            false,
            1 << 20,
            true,
            Duration.ZERO,
            Duration.ofDays(7),
            Duration.ofMinutes(5));
    StateArchiver archiver =
        new StateArchiver(
            states,
            new RedisSessionLocks(REDIS),
            archive,
            cfg,
            Clock.systemUTC(),
            new MemoryBudget(64 << 20));
    byte[] state = "\u0002archived".getBytes(StandardCharsets.UTF_8);
    states.save("ArchivedSession000001", state);

    assertTrue(archiver.runOnce() >= 1);
    assertEquals(0, archiver.runOnce(), "an unchanged state is not archived twice");
    assertArrayEquals(state, archive.read("ArchivedSession000001", Room.NONE).orElseThrow());

    REDIS.run(j -> j.del(PREFIX + "session:state:ArchivedSession000001"));
    long[] asked = {0};
    assertArrayEquals(
        state,
        states
            .load(
                "ArchivedSession000001",
                bytes -> {
                  asked[0] += bytes;
                  return bytes;
                })
            .orElseThrow()
            .bytes());
    assertTrue(asked[0] >= state.length, "a restore asks for room before it reads: " + asked[0]);
    boolean backInRedis = REDIS.call(j -> j.exists(PREFIX + "session:state:ArchivedSession000001"));
    assertTrue(backInRedis, "the restored state is back in Redis");

    states.delete("ArchivedSession000001");
    assertTrue(
        archive.read("ArchivedSession000001", Room.NONE).isEmpty(),
        "deleting state deletes its archive");
    assertTrue(states.load("ArchivedSession000001").isEmpty());
  }

  /** Archives anything idle for 0 s, i.e. everything, so a test need not wait. */
  private static final Config.State ARCHIVE_AT_ONCE =
      new Config.State(
          true,
          Duration.ofHours(2),
          false,
          1 << 20,
          true,
          Duration.ZERO,
          Duration.ofDays(7),
          Duration.ofMinutes(5));

  /** A store of states on the test Redis, archived to {@code archive}. */
  private static RedisStateStore states(StateArchive archive) {
    return new RedisStateStore(REDIS, Duration.ofHours(2), Clock.systemUTC(), archive);
  }

  /** An archiver of everything {@code states} holds, drawing on {@code memory}. */
  private static StateArchiver archiver(
      RedisStateStore states, SessionLocks locks, StateArchive archive, MemoryBudget memory) {
    return new StateArchiver(states, locks, archive, ARCHIVE_AT_ONCE, Clock.systemUTC(), memory);
  }

  /** A 300 KiB state saved for {@code sid}: its archival buffers ~2 MiB. */
  private static byte[] savedLargeState(RedisStateStore states, String sid) {
    byte[] state = new byte[300 * 1024];
    state[0] = 2;
    states.save(sid, state);
    return state;
  }

  /**
   * The archiver has read a state and is about to copy it to S3 when DELETE /state comes for it (or
   * the emptying of its expired session): the delete takes its turn after the copy, and deletes it
   * too. Were it done between the read and the copy, the copy would put the deleted state back in
   * S3, and the next load of the session would restore it from there.
   */
  @Test
  @SuppressWarnings("try") // the leases are held, not used
  void aStateDeletedWhileTheArchiverCopiesItStaysDeleted() throws Exception {
    String sid = "RacedArchiveSession01";
    RedisSessionLocks locks = new RedisSessionLocks(REDIS);
    ObjectStore s3 = RealStores.s3("kcr-archive");
    RedisStateStore[] states = new RedisStateStore[1];
    boolean[] deletedDuringCopy = {false};
    // The archive's store: the delete arrives as the copy starts, and takes the session's lock
    // as StateWrites does (here without waiting, on the archiver's own thread).
    ObjectStore racing =
        new ObjectStore() {
          @Override
          public long put(String key, InputStream in, long maxBytes, String type, Room room)
              throws IOException {
            if (key.contains(sid) && !deletedDuringCopy[0]) {
              try (SessionLocks.Lease held = locks.acquire(sid, Duration.ZERO)) {
                states[0].delete(sid);
                deletedDuringCopy[0] = true;
              } catch (SessionBusyException busy) {
                // the delete waits for the archiver: done below, once runOnce is over
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            }
            return s3.put(key, in, maxBytes, type, room);
          }

          @Override
          public Optional<InputStream> open(String key) throws IOException {
            return s3.open(key);
          }

          @Override
          public Optional<InputStream> open(String key, long offset, long length)
              throws IOException {
            return s3.open(key, offset, length);
          }

          @Override
          public void delete(String key) throws IOException {
            s3.delete(key);
          }

          @Override
          public List<ObjectSummary> list(String prefix, String startAfter, int limit)
              throws IOException {
            return s3.list(prefix, startAfter, limit);
          }
        };
    StateArchive archive = new StateArchive(racing);
    states[0] = new RedisStateStore(REDIS, Duration.ofHours(2), Clock.systemUTC(), archive);
    StateArchiver archiver =
        new StateArchiver(
            states[0],
            locks,
            archive,
            ARCHIVE_AT_ONCE,
            Clock.systemUTC(),
            new MemoryBudget(64 << 20));
    states[0].save(sid, "\u0002secret = 42".getBytes(StandardCharsets.UTF_8));

    archiver.runOnce();
    if (!deletedDuringCopy[0]) {
      new StateWrites(states[0], locks, Duration.ofSeconds(5)).delete(sid, () -> true);
    }

    assertTrue(archive.read(sid, Room.NONE).isEmpty(), "no copy of the deleted state in S3");
    assertTrue(states[0].load(sid).isEmpty(), "the deleted state does not come back");
  }

  /** A state whose session is held (a run, a state write) is left for a later cycle. */
  @Test
  @SuppressWarnings("try") // the lease is held, not used
  void theArchiverLeavesAStateWhoseSessionIsHeld() throws Exception {
    String sid = "HeldArchiveSession001";
    RedisSessionLocks locks = new RedisSessionLocks(REDIS);
    StateArchive archive = new StateArchive(RealStores.s3("kcr-archive"));
    RedisStateStore states = states(archive);
    StateArchiver archiver = archiver(states, locks, archive, new MemoryBudget(64 << 20));
    byte[] state = "\u0002held = 1".getBytes(StandardCharsets.UTF_8);
    states.save(sid, state);

    try (SessionLocks.Lease held = locks.acquire(sid, Duration.ZERO)) {
      archiver.runOnce();
      assertTrue(archive.read(sid, Room.NONE).isEmpty(), "not archived while the session is held");
    }
    archiver.runOnce();
    assertArrayEquals(state, archive.read(sid, Room.NONE).orElseThrow(), "archived once free");
    states.delete(sid);
  }

  /**
   * Archiving a state buffers about 5 times its base64 (the reply, the string, the decoded bytes,
   * the text and part sent to S3), reserved from the requests' memory budget before it is read: a
   * state the budget cannot hold stays in Redis for a later cycle, and nothing stays held.
   */
  @Test
  void theArchiverArchivesAStateOnlyWithRoomForWhatItBuffers() throws Exception {
    String sid = "BudgetArchiveSession1";
    StateArchive archive = new StateArchive(RealStores.s3("kcr-archive"));
    RedisStateStore states = states(archive);
    byte[] state = savedLargeState(states, sid);
    RedisSessionLocks locks = new RedisSessionLocks(REDIS);

    MemoryBudget small = new MemoryBudget(1 << 20);
    archiver(states, locks, archive, small).runOnce();
    assertTrue(archive.read(sid, Room.NONE).isEmpty(), "not archived without room for it");
    assertEquals(0, small.held(), "held after the cycle");

    MemoryBudget enough = new MemoryBudget(4 << 20);
    archiver(states, locks, archive, enough).runOnce();
    assertArrayEquals(state, archive.read(sid, Room.NONE).orElseThrow(), "archived with room");
    assertEquals(0, enough.held(), "held after the cycle");
    states.delete(sid);
  }

  @Test
  void theArchiverNeverWaitsForRoomARequestHolds() throws Exception {
    String sid = "BudgetArchiveSession2";
    StateArchive archive = new StateArchive(RealStores.s3("kcr-archive"));
    RedisStateStore states = states(archive);
    savedLargeState(states, sid);
    // Room for the archive (~2 MiB), held by a request; a waiter would wait an hour for it, and
    // hold up every request behind it in the fair queue.
    MemoryBudget busy = new MemoryBudget(4 << 20, Duration.ofHours(1));
    MemoryBudget.Held request = busy.hold();
    request.reserve(3 << 20);
    StateArchiver archiver = archiver(states, new RedisSessionLocks(REDIS), archive, busy);
    int archived =
        org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
            Duration.ofSeconds(60), archiver::runOnce, "the archiver waited for room");
    assertEquals(0, archived);
    assertTrue(archive.read(sid, Room.NONE).isEmpty(), "not archived without room for it now");
    assertEquals(3 << 20, busy.held(), "only the request's holding");
    request.releaseAll();
    assertEquals(1, archiver.runOnce(), "archived once the room is free");
    states.delete(sid);
  }
}
