package dev.kubecoderun.files;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.logging.Logger;

/**
 * Deletes objects under {@code sessions/} that no file metadata points at (their metadata expired,
 * or a write failed between object and metadata). Objects younger than {@link #GRACE} are left
 * alone: their metadata may be being written right now. Each cycle looks at a bounded page of
 * objects and continues after it next time. Each pass over all of them starts by deleting the
 * temporary files that writes cut off by a kill left in the local data directory ({@link
 * LocalDisk#deleteStaleTemporaries}): a walk of that directory once a pass, not every cycle.
 */
public final class OrphanSweeper {
  private static final Logger LOG = Logger.getLogger(OrphanSweeper.class.getName());
  static final int OBJECTS_PER_CYCLE = 1000;
  static final Duration GRACE = LocalDisk.TEMPORARY_GRACE;

  private final ObjectStore objects;
  private final FileMetadataStore metadata;
  private final Clock clock;
  private final Path localDir;
  private String cursor;

  public OrphanSweeper(ObjectStore objects, FileMetadataStore metadata, Clock clock) {
    this(objects, metadata, clock, null);
  }

  /** {@code localDir}: where the embedded stores write (DATA_DIR), or null. */
  public OrphanSweeper(
      ObjectStore objects, FileMetadataStore metadata, Clock clock, Path localDir) {
    this.objects = objects;
    this.metadata = metadata;
    this.clock = clock;
    this.localDir = localDir;
  }

  /** One cycle; returns how many objects it deleted (temporary files not counted). */
  public synchronized int runOnce() throws IOException {
    if (cursor == null && localDir != null) {
      LocalDisk.deleteStaleTemporaries(localDir, clock.instant());
    }
    Instant cutoff = clock.instant().minus(GRACE);
    List<ObjectStore.ObjectSummary> page = objects.list("sessions/", cursor, OBJECTS_PER_CYCLE);
    int deleted = 0;
    for (ObjectStore.ObjectSummary o : page) {
      // sessions/{sid}/{uploads|outputs}/{fid}
      String[] parts = o.key().split("/");
      if (parts.length != 4 || !o.lastModified().isBefore(cutoff)) {
        continue;
      }
      if (metadata.find(parts[1], parts[3]).isEmpty()) {
        objects.delete(o.key());
        deleted++;
      }
    }
    cursor = page.size() < OBJECTS_PER_CYCLE ? null : page.get(page.size() - 1).key();
    if (deleted > 0) {
      LOG.info("deleted " + deleted + " orphaned object(s)");
    }
    return deleted;
  }
}
