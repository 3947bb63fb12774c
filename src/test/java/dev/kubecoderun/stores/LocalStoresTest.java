package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.ApiKeyStore;
import dev.kubecoderun.auth.LocalApiKeyStore;
import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.LocalFileMetadataStore;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.session.LocalSessionLocks;
import dev.kubecoderun.session.LocalSessionStore;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionStore;
import dev.kubecoderun.state.LocalStateStore;
import dev.kubecoderun.state.StateHash;
import dev.kubecoderun.state.StateStore;
import dev.kubecoderun.state.StoredState;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The store contracts against the embedded stores (memory and local disk). */
class LocalStoresTest {
  @TempDir static Path dataDir;

  /**
   * A file an embedded store cannot use (empty or cut short, as a crash leaves one; not JSON; JSON
   * null; a record without its id or the fields every request reads) is skipped at the start; the
   * store starts with the others.
   */
  @Test
  void aStoreStartsWithTheFilesItCanReadAndSkipsTheOthers(@TempDir Path dir) throws Exception {
    Instant now = Instant.now();
    new LocalSessionStore(dir)
        .createOrReuse(new Session("good", now, now, now.plusSeconds(3600), null, null), false);
    Path sessions = dir.resolve("meta/sessions");
    Files.writeString(sessions.resolve("garbage.json"), "{not json");
    Files.writeString(sessions.resolve("null.json"), "null");
    Files.writeString(sessions.resolve("no-id.json"), "{}");
    Files.writeString(sessions.resolve("empty.json"), "");
    Files.writeString(
        sessions.resolve("bare.json"), "{\"id\":\"bare\",\"lastActivity\":\"" + now + "\"}");
    LocalSessionStore again = new LocalSessionStore(dir);
    assertTrue(again.find("good").isPresent());
    assertEquals(List.of("good"), again.ids(SessionStore.IdPage.START, 10).ids());

    Path keys = Files.createDirectories(dir.resolve("meta/api-keys"));
    Files.writeString(keys.resolve("null.json"), "null");
    Files.writeString(keys.resolve("no-hash.json"), "{}");
    assertTrue(new LocalApiKeyStore(Clock.systemUTC(), dir).list().isEmpty());

    Path files = Files.createDirectories(dir.resolve("meta/files/s1"));
    Files.writeString(files.resolve("null.json"), "null");
    Files.writeString(files.resolve("no-session.json"), "{}");
    Files.writeString(files.resolve("empty.json"), "");
    // JSON, but without what a listing or a download reads: a 500 for the session's every listing.
    Files.writeString(files.resolve("bare.json"), "{\"sessionId\":\"s1\",\"id\":\"bare\"}");
    LocalFileMetadataStore metadata = new LocalFileMetadataStore(dir);
    assertTrue(metadata.find("s1", "bare").isEmpty());
    assertEquals(0, metadata.usage("s1").files());
  }

  /**
   * A state whose meta is empty (what a power cut can leave of one written unflushed) or damaged is
   * no state: the session's runs go on without it, not a 503 each for good; its holder's load
   * deletes it.
   */
  @Test
  void aStateWhoseMetaCannotBeReadIsNoState(@TempDir Path dir) throws Exception {
    LocalStateStore states = new LocalStateStore(dir, Duration.ofHours(1), Clock.systemUTC());
    for (String meta : List.of("", "{not json", "null", "{}")) {
      states.save("s1", new byte[] {1, 2});
      Files.writeString(dir.resolve("states/s1/meta.json"), meta);
      assertTrue(states.peek("s1", Instant.EPOCH, Room.NONE).isEmpty(), meta);
      assertTrue(Files.exists(dir.resolve("states/s1")), "a peek leaves it: " + meta);
      assertTrue(states.load("s1").isEmpty(), meta);
      assertFalse(Files.exists(dir.resolve("states/s1")), "a load deletes it: " + meta);
    }
  }

  /** One process: every replica() is the same store. */
  @Nested
  class Programmatic extends ProgrammaticStoreContract {
    private final dev.kubecoderun.execution.ProgrammaticStore store =
        new dev.kubecoderun.execution.LocalProgrammaticStore();

    @Override
    dev.kubecoderun.execution.ProgrammaticStore replica() {
      return store;
    }
  }

  @Nested
  class Sessions extends SessionStoreContract {
    private final SessionStore store = new LocalSessionStore(dataDir);

    @Override
    SessionStore store() {
      return store;
    }
  }

  @Nested
  class Expiry extends SessionExpiryContract {
    private final SessionStore sessions = new LocalSessionStore(dataDir, clock);
    private final FileMetadataStore metadata = new LocalFileMetadataStore(dataDir);
    private final ObjectStore objects = new LocalObjectStore(dataDir);
    private final StateStore states =
        new LocalStateStore(dataDir, Duration.ofHours(1), Clock.systemUTC());
    private final SessionLocks locks = new LocalSessionLocks();

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
      return objects;
    }

    @Override
    StateStore states() {
      return states;
    }

    @Override
    SessionLocks locks() {
      return locks;
    }
  }

  @Nested
  class FileMetadata extends FileMetadataStoreContract {
    private final FileMetadataStore store = new LocalFileMetadataStore(dataDir);

    @Override
    FileMetadataStore store() {
      return store;
    }
  }

  @Nested
  class Objects extends ObjectStoreContract {
    private final ObjectStore store = new LocalObjectStore(dataDir);

    @Override
    ObjectStore store() {
      return store;
    }
  }

  @Nested
  class States extends StateStoreContract {
    @Override
    StateStore store(Duration ttl) {
      return new LocalStateStore(dataDir, ttl, Clock.systemUTC());
    }

    /**
     * A state the store cannot check is an error, not "no state": a run would otherwise go on
     * without the session's variables. (As root no permission is denied: a symbolic link loop in
     * place of the state fails the check the same way.)
     */
    @Test
    void aStateItCannotCheckIsAnErrorNotNoState(@TempDir Path dir) throws Exception {
      LocalStateStore states = new LocalStateStore(dir, Duration.ofHours(1), Clock.systemUTC());
      Path session = Files.createDirectories(dir.resolve("states").resolve("sess-blocked"));
      Files.createSymbolicLink(session.resolve("meta.json"), Path.of("meta.json"));
      assertThrows(UncheckedIOException.class, () -> states.load("sess-blocked"));
      assertTrue(states.load("sess-never-saved").isEmpty());
    }

    /**
     * meta.json once carried the state's hash too: a state saved by a release that wrote it still
     * loads, with the hash of its bytes and the times it was saved with.
     */
    @Test
    void aStateSavedWithAHashInItsMetaStillLoads(@TempDir Path dir) throws Exception {
      LocalStateStore states = new LocalStateStore(dir, Duration.ofHours(1), Clock.systemUTC());
      Path session = Files.createDirectories(dir.resolve("states").resolve("sess-older-release"));
      Files.write(session.resolve("state.dat"), STATE);
      Instant createdAt = Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS);
      Instant expiresAt = createdAt.plus(Duration.ofHours(1));
      Files.writeString(
          session.resolve("meta.json"),
          "{\"hash\":\""
              + StateHash.of(STATE)
              + "\",\"createdAt\":\""
              + createdAt
              + "\",\"expiresAt\":\""
              + expiresAt
              + "\"}");

      StoredState read = states.load("sess-older-release").orElseThrow();
      assertArrayEquals(STATE, read.bytes());
      assertEquals(StateHash.of(STATE), read.hash());
      assertEquals(createdAt, read.createdAt());
      assertEquals(expiresAt, read.expiresAt());
    }

    /**
     * GET /state reads without the session's lock while a run saves: state.dat is replaced first,
     * then meta.json. A read that comes in between (meta.json of the old state, state.dat of the
     * new) answers the bytes it read with their own hash, the ETag a later upload is checked
     * against.
     */
    @Test
    void aStateReadBetweenTheTwoFilesOfASaveHasTheHashOfItsBytes(@TempDir Path dir)
        throws Exception {
      LocalStateStore states = new LocalStateStore(dir, Duration.ofHours(1), Clock.systemUTC());
      states.save("sess-mid-save", STATE);
      byte[] newer = {2, 9, 9};
      Files.write(dir.resolve("states/sess-mid-save/state.dat"), newer);

      StoredState read = states.peek("sess-mid-save", Room.NONE).orElseThrow();
      assertArrayEquals(newer, read.bytes());
      assertEquals(StateHash.of(newer), read.hash());
    }

    /**
     * A save that replaces the state while a read makes room for it: the read takes the bytes it
     * made room for, not the larger new state, with their own hash.
     */
    @Test
    void aStateSavedWhileAReadMakesRoomIsNotReadPastTheRoomMade(@TempDir Path dir) {
      LocalStateStore states = new LocalStateStore(dir, Duration.ofHours(1), Clock.systemUTC());
      states.save("sess-saved-meanwhile", STATE);
      byte[] larger = new byte[10_000];
      larger[0] = 2;
      long[] reserved = {0};
      Room savingMeanwhile =
          bytes -> {
            if (reserved[0] == 0) {
              states.save("sess-saved-meanwhile", larger);
            }
            reserved[0] += bytes;
            return bytes;
          };

      StoredState read = states.peek("sess-saved-meanwhile", savingMeanwhile).orElseThrow();
      assertTrue(read.bytes().length <= reserved[0], read.bytes().length + " > " + reserved[0]);
      assertEquals(StateHash.of(read.bytes()), read.hash());
    }

    /**
     * GET /state peeks without the session's lock: a run may save a new state between the peek's
     * read of the old one, expired, and its answer. The peek says "no state" and leaves the disk as
     * it is, the run's new state with it. (The clock the peek asks whether the old state expired is
     * where the run's save comes in.)
     */
    @Test
    void aPeekAtAnExpiredStateLeavesTheNewerOneARunSavedMeanwhile(@TempDir Path dir) {
      Duration ttl = Duration.ofHours(1);
      Instant[] now = {Instant.parse("2026-01-01T00:00:00Z")};
      LocalStateStore[] states = new LocalStateStore[1];
      byte[] newer = {2, 9, 9};
      boolean[] runSavesAtNextTick = {false};
      Clock clock =
          new Clock() {
            @Override
            public Instant instant() {
              if (runSavesAtNextTick[0]) {
                runSavesAtNextTick[0] = false;
                states[0].save("sess-peeked", newer);
              }
              return now[0];
            }

            @Override
            public java.time.ZoneId getZone() {
              return java.time.ZoneOffset.UTC;
            }

            @Override
            public Clock withZone(java.time.ZoneId zone) {
              return this;
            }
          };
      states[0] = new LocalStateStore(dir, ttl, clock);
      states[0].save("sess-peeked", STATE);
      now[0] = now[0].plus(ttl).plusSeconds(1);

      runSavesAtNextTick[0] = true;
      assertTrue(states[0].peek("sess-peeked", Room.NONE).isEmpty(), "the state it read expired");
      assertFalse(runSavesAtNextTick[0], "the run saved during the peek");
      assertArrayEquals(newer, states[0].load("sess-peeked").orElseThrow().bytes());
    }
  }

  @Nested
  class ApiKeys extends ApiKeyStoreContract {
    private final ApiKeyStore store = new LocalApiKeyStore(Clock.systemUTC());

    @Override
    ApiKeyStore store() {
      return store;
    }
  }

  /** Written through to DATA_DIR/meta/api-keys: a new store reads the same keys back. */
  @Nested
  class ApiKeysOnDisk extends ApiKeyStoreContract {
    private final Path dir = dataDir.resolve("api-keys-contract");
    private final ApiKeyStore store = new LocalApiKeyStore(Clock.systemUTC(), dir);

    @Override
    ApiKeyStore store() {
      return store;
    }

    @Override
    ApiKeyStore reopened() {
      return new LocalApiKeyStore(Clock.systemUTC(), dir);
    }
  }

  /** One process: every "replica" is the same in-process locks. */
  @Nested
  class Locks extends SessionLocksContract {
    private final SessionLocks locks = new LocalSessionLocks();

    @Override
    SessionLocks replica() {
      return locks;
    }
  }
}
