package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.auth.RateWindow;
import dev.kubecoderun.auth.RedisApiKeyStore;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.files.RedisFileMetadataStore;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.session.RedisSessionStore;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.state.RedisStateStore;
import dev.kubecoderun.state.StateArchive;
import dev.kubecoderun.state.StateArchiver;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
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
    StateArchiver archiver = new StateArchiver(states, archive, cfg, Clock.systemUTC());
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
}
