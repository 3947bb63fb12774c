package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.LocalApiKeyStore;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.LocalDisk;
import dev.kubecoderun.files.LocalFileMetadataStore;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.session.LocalSessionStore;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.state.LocalStateStore;
import dev.kubecoderun.testing.MovingClock;
import dev.kubecoderun.testing.SmallDisk;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The embedded stores on a DATA_DIR with no room left (a tmpfs of the test's): each write is a
 * storage failure that says the disk is full, nothing half-written is kept, what was stored before
 * stays whole, and writes work again once there is room.
 */
class FullDiskStoresTest {
  private static final long MAX = 4L << 20;
  private static SmallDisk disk;
  private Path data;

  @BeforeAll
  static void mount() {
    disk = SmallDisk.mount(4);
  }

  @AfterAll
  static void unmount() {
    disk.close();
  }

  @BeforeEach
  void freshDataDir() throws IOException {
    data = Files.createTempDirectory(disk.root, "data-");
  }

  @AfterEach
  void makeRoom() {
    disk.makeRoom();
  }

  @Test
  void anObjectTheDiskHasNoRoomForIsAStorageFailureAndLeavesNothing() throws IOException {
    ObjectStore objects = new LocalObjectStore(data);
    byte[] before = bytes(100_000);
    objects.put("sessions/s1/uploads/a", in(before), MAX, null);
    disk.fillLeaving(64 * 1024);

    // The store's failure, not the client's stream's (an IOException): the API answers 503.
    UncheckedIOException e =
        assertThrows(
            UncheckedIOException.class,
            () -> objects.put("sessions/s1/uploads/b", in(bytes(1 << 20)), MAX, null));
    assertTrue(LocalDisk.isFull(e), e.toString());
    assertEquals(List.of("sessions/s1/uploads/a"), keys(objects));
    assertNoTemporaryFiles();
    assertArrayEquals(before, read(objects, "sessions/s1/uploads/a"));

    disk.makeRoom();
    objects.put("sessions/s1/uploads/b", in(bytes(1 << 20)), MAX, null);
    assertEquals(List.of("sessions/s1/uploads/a", "sessions/s1/uploads/b"), keys(objects));
  }

  @Test
  void aStateTheDiskHasNoRoomForLeavesThePreviousOneWhole() {
    LocalStateStore states = new LocalStateStore(data, Duration.ofHours(1), Clock.systemUTC());
    byte[] first = {1, 2, 3};
    states.save("s1", first);
    disk.fill();

    UncheckedIOException e =
        assertThrows(UncheckedIOException.class, () -> states.save("s1", new byte[] {4, 5, 6}));
    assertTrue(LocalDisk.isFull(e), e.toString());
    assertArrayEquals(first, states.load("s1").orElseThrow().bytes());
    assertNoTemporaryFiles();

    disk.makeRoom();
    states.save("s1", new byte[] {7});
    assertArrayEquals(new byte[] {7}, states.load("s1").orElseThrow().bytes());
  }

  @Test
  void aFileWhoseRecordTheDiskHasNoRoomForIsNotKept() throws IOException {
    LocalFileMetadataStore metadata = new LocalFileMetadataStore(data);
    LocalObjectStore objects = new LocalObjectStore(data);
    FileService files = new FileService(metadata, objects, Clock.systemUTC(), (p, s) -> true);
    Principal owner = Principal.apiKey("aaaa");
    StoredFile kept = upload(files, owner, bytes(10));
    // Room for the file's bytes, none for its record.
    disk.fillLeaving(SmallDisk.PAGE);

    UncheckedIOException e =
        assertThrows(UncheckedIOException.class, () -> upload(files, owner, bytes(10)));
    assertTrue(LocalDisk.isFull(e), e.toString());
    assertEquals(List.of(kept), metadata.list("s1"));
    assertEquals(List.of(kept.objectKey()), keys(objects));
    assertNoTemporaryFiles();

    disk.makeRoom();
    upload(files, owner, bytes(10));
    assertEquals(2, new LocalFileMetadataStore(data).list("s1").size());
  }

  @Test
  void sessionsAndKeysTheDiskHasNoRoomForAreNotMadeAndTheOthersStay() {
    Instant now = Instant.now();
    LocalSessionStore sessions = new LocalSessionStore(data);
    sessions.createOrReuse(session("old", now), false);
    LocalApiKeyStore keys = new LocalApiKeyStore(Clock.systemUTC(), data);
    ApiKeyRecord key = key('a', now);
    keys.save(key);
    disk.fill();

    assertThrows(
        UncheckedIOException.class, () -> sessions.createOrReuse(session("new", now), false));
    assertThrows(UncheckedIOException.class, () -> keys.save(key('b', now)));
    assertTrue(sessions.find("new").isEmpty());
    assertEquals(List.of(key), keys.list());
    assertNoTemporaryFiles();

    disk.makeRoom();
    sessions.createOrReuse(session("new", now), false);
    keys.save(key('b', now));
    // And all of it read back at the next start.
    assertTrue(new LocalSessionStore(data).find("old").isPresent());
    assertTrue(new LocalSessionStore(data).find("new").isPresent());
    assertEquals(2, new LocalApiKeyStore(Clock.systemUTC(), data).list().size());
  }

  /**
   * A run in a live session that stores nothing does not fail on its touch, which only dates the
   * session's last use: that is written at the next touch once there is room.
   */
  @Test
  void aTouchTheDiskHasNoRoomForIsWrittenLater() {
    Instant t0 = Instant.now();
    MovingClock clock = new MovingClock(t0);
    LocalSessionStore sessions = new LocalSessionStore(data, clock);
    sessions.createOrReuse(session("s", t0), false);
    disk.fill();

    Instant later = t0.plus(Duration.ofMinutes(2));
    clock.set(later);
    assertEquals(later, sessions.createOrReuse(session("s", later), false).lastActivity());

    disk.makeRoom();
    Instant then = later.plusSeconds(1);
    sessions.touch("s", then);
    assertEquals(then, new LocalSessionStore(data, clock).find("s").orElseThrow().lastActivity());
  }

  private static StoredFile upload(FileService files, Principal owner, byte[] content)
      throws IOException {
    return files.upload(
        owner,
        StoredFile.Sharing.USER,
        "s1",
        "f.txt",
        "text/plain",
        in(content),
        MAX,
        Room.NONE,
        false);
  }

  private static Session session(String id, Instant now) {
    return new Session(id, now, now, now.plusSeconds(3600), null, null, "key:o", "key:o");
  }

  private static ApiKeyRecord key(char c, Instant now) {
    return new ApiKeyRecord(
        String.valueOf(c).repeat(64), "sk-" + c, "k", now, true, Map.of(), 0, null, Map.of());
  }

  private void assertNoTemporaryFiles() {
    try (var paths = Files.walk(data)) {
      assertEquals(
          List.of(), paths.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<String> keys(ObjectStore objects) throws IOException {
    return objects.list("sessions/", null, 100).stream()
        .map(ObjectStore.ObjectSummary::key)
        .toList();
  }

  private static byte[] read(ObjectStore objects, String key) throws IOException {
    try (InputStream in = objects.open(key).orElseThrow()) {
      return in.readAllBytes();
    }
  }

  private static InputStream in(byte[] bytes) {
    return new ByteArrayInputStream(bytes);
  }

  private static byte[] bytes(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    return b;
  }
}
