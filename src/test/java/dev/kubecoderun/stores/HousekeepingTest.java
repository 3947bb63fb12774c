package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.LocalFileMetadataStore;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.files.OrphanSweeper;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.session.ExpiredSessions;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.LocalSessionLocks;
import dev.kubecoderun.session.LocalSessionStore;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionCleaner;
import dev.kubecoderun.state.LocalStateStore;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The clean-up jobs: expired sessions lose their files, orphaned objects are swept. */
class HousekeepingTest {
  private static final Principal OWNER = Principal.apiKey("housekeeping-test-key-0123");

  @TempDir Path dataDir;

  private StoredFile upload(FileService files, String sid, String name) throws IOException {
    return files.upload(
        OWNER,
        StoredFile.Sharing.USER,
        sid,
        name,
        "text/plain",
        new ByteArrayInputStream(new byte[] {1, 2}),
        10,
        dev.kubecoderun.memory.Room.NONE,
        false);
  }

  @Test
  void anExpiredSessionLosesItsFilesAndALiveOneKeepsThem() throws Exception {
    LocalSessionStore sessions = new LocalSessionStore(dataDir);
    LocalObjectStore objects = new LocalObjectStore(dataDir);
    FileService files =
        new FileService(
            new LocalFileMetadataStore(dataDir), objects, Clock.systemUTC(), (p, sid) -> false);
    Instant now = Instant.now();
    Instant past = now.minus(Duration.ofHours(3));
    Session expired =
        sessions.createOrReuse(
            new Session(Ids.next(), past, past, past.plusSeconds(3600), null, null));
    Session live = sessions.createOrReuse(new Session(Ids.next(), now, now, null, null, null));
    StoredFile gone = upload(files, expired.id(), "old.txt");
    StoredFile kept = upload(files, live.id(), "new.txt");

    ExpiredSessions expiredSessions =
        new ExpiredSessions(
            sessions,
            files,
            new LocalStateStore(dataDir, Duration.ofHours(1), Clock.systemUTC()),
            new LocalSessionLocks());
    assertEquals(1, new SessionCleaner(sessions, expiredSessions).runOnce());

    assertTrue(files.findAnyOwner(expired.id(), gone.id()).isEmpty());
    assertTrue(objects.open(gone.objectKey()).isEmpty(), "the object went with its metadata");
    assertTrue(objects.list("sessions/" + expired.id() + "/", null, 10).isEmpty());
    assertTrue(files.findAnyOwner(live.id(), kept.id()).isPresent());
    assertTrue(objects.open(kept.objectKey()).isPresent());
  }

  @Test
  void theSweepDeletesOldObjectsWithoutMetadataOnly() throws IOException {
    LocalObjectStore objects = new LocalObjectStore(dataDir);
    LocalFileMetadataStore metadata = new LocalFileMetadataStore(dataDir);
    FileService files = new FileService(metadata, objects, Clock.systemUTC(), (p, sid) -> false);
    StoredFile referenced = upload(files, Ids.next(), "kept.txt");
    String orphan = StoredFile.objectKey(Ids.next(), StoredFile.Kind.UPLOAD, Ids.next());
    objects.put(orphan, new ByteArrayInputStream(new byte[] {9}), 10, null);

    Clock now = Clock.systemUTC();
    assertEquals(0, new OrphanSweeper(objects, metadata, now).runOnce(), "young objects stay");

    Clock twoHoursLater = Clock.fixed(Instant.now().plus(Duration.ofHours(2)), ZoneOffset.UTC);
    assertEquals(1, new OrphanSweeper(objects, metadata, twoHoursLater).runOnce());
    assertTrue(objects.open(orphan).isEmpty());
    assertTrue(objects.open(referenced.objectKey()).isPresent());
  }

  /**
   * A write cut off by a kill leaves its temporary file, which no listing shows: the sweep deletes
   * those no write has touched for the grace period, wherever the embedded stores write, and leaves
   * a write still going.
   */
  @Test
  void theSweepDeletesTemporaryFilesLeftByInterruptedWritesOnly() throws IOException {
    Path uploads = Files.createDirectories(dataDir.resolve("objects/sessions/s1/uploads"));
    Path metadata = Files.createDirectories(dataDir.resolve("meta/files/s1"));
    Path staleObject = Files.write(uploads.resolve(".f1.0b6e.tmp"), new byte[] {1, 2});
    Path staleRecord = Files.write(metadata.resolve(".f1.json.0b6e.tmp"), new byte[] {'{'});
    Path fresh = Files.write(uploads.resolve(".f2.77aa.tmp"), new byte[] {3});
    FileTime twoHoursAgo = FileTime.from(Instant.now().minus(Duration.ofHours(2)));
    for (Path p : List.of(staleObject, staleRecord)) {
      Files.setLastModifiedTime(p, twoHoursAgo);
    }

    LocalObjectStore objects = new LocalObjectStore(dataDir);
    LocalFileMetadataStore files = new LocalFileMetadataStore(dataDir);
    new OrphanSweeper(objects, files, Clock.systemUTC(), dataDir).runOnce();

    assertFalse(Files.exists(staleObject));
    assertFalse(Files.exists(staleRecord));
    assertTrue(Files.exists(fresh), "a write still going keeps its file");
  }
}
