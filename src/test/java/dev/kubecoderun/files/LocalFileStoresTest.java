package dev.kubecoderun.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.session.Ids;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded file stores keep nothing of a session whose files are all gone. */
class LocalFileStoresTest {
  @TempDir Path dataDir;

  private StoredFile file(String sessionId) {
    String id = Ids.next();
    return new StoredFile(
        sessionId,
        id,
        id + ".txt",
        "text/plain",
        StoredFile.objectKey(sessionId, StoredFile.Kind.UPLOAD, id),
        1,
        Instant.now(),
        StoredFile.Kind.UPLOAD);
  }

  private void store(LocalFileMetadataStore metadata, LocalObjectStore objects, StoredFile f)
      throws IOException {
    objects.put(f.objectKey(), new ByteArrayInputStream(new byte[] {1}), 10, null);
    metadata.save(f);
  }

  @Test
  void aSessionWhoseFilesAreDeletedLeavesNoMapNorDirectories() throws IOException {
    LocalFileMetadataStore metadata = new LocalFileMetadataStore(dataDir);
    LocalObjectStore objects = new LocalObjectStore(dataDir);
    FileService files = new FileService(metadata, objects, Clock.systemUTC(), (p, sid) -> false);
    String gone = Ids.next();
    String kept = Ids.next();
    store(metadata, objects, file(gone));
    store(metadata, objects, file(gone));
    StoredFile other = file(kept);
    store(metadata, objects, other);
    // An output whose metadata was never written: deleteSession finds it by listing.
    objects.put(
        StoredFile.objectKey(gone, StoredFile.Kind.OUTPUT, Ids.next()),
        new ByteArrayInputStream(new byte[] {2}),
        10,
        null);

    assertEquals(3, files.deleteSession(gone, 100));

    assertEquals(1, metadata.sessionsHeld(), "only the other session's map");
    assertFalse(Files.exists(dataDir.resolve("meta/files").resolve(gone)));
    assertFalse(Files.exists(dataDir.resolve("objects/sessions").resolve(gone)));
    assertTrue(metadata.find(kept, other.id()).isPresent());
    assertTrue(objects.open(other.objectKey()).isPresent());
  }

  /**
   * A session's last object deleted while another is stored into it: the delete removes the emptied
   * directories, and the put that finds its directory gone between making it and writing into it
   * makes it again; the new object is kept. (A race: run often enough to hit it most times.)
   */
  @Test
  void anObjectStoredWhileTheSessionsLastOneIsDeletedIsKept() throws Exception {
    LocalObjectStore objects = new LocalObjectStore(dataDir);
    String sid = Ids.next();
    ExecutorService pool = Executors.newFixedThreadPool(2);
    try {
      for (int round = 0; round < 400; round++) {
        String deleted = StoredFile.objectKey(sid, StoredFile.Kind.UPLOAD, Ids.next());
        String added = StoredFile.objectKey(sid, StoredFile.Kind.UPLOAD, Ids.next());
        objects.put(deleted, new ByteArrayInputStream(new byte[] {1}), 10, null);
        CyclicBarrier together = new CyclicBarrier(2);
        Future<?> delete =
            pool.submit(
                () -> {
                  together.await();
                  objects.delete(deleted);
                  return null;
                });
        Future<?> put =
            pool.submit(
                () -> {
                  together.await();
                  return objects.put(added, new ByteArrayInputStream(new byte[] {2}), 10, null);
                });
        delete.get();
        put.get();
        try (var in = objects.open(added).orElseThrow()) {
          assertEquals(1, in.readAllBytes().length, "round " + round);
        }
        objects.delete(added); // the next round starts from an empty session again
      }
    } finally {
      pool.shutdownNow();
    }
  }
}
