package dev.kubecoderun.files;

import dev.kubecoderun.common.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** File metadata in memory, written through to JSON files so it survives a restart. */
public final class LocalFileMetadataStore implements FileMetadataStore {
  private final Path dir;
  private final Map<String, Map<String, StoredFile>> bySession = new ConcurrentHashMap<>();

  public LocalFileMetadataStore(Path dataDir) {
    this.dir = dataDir.resolve("meta/files");
    load();
  }

  @Override
  public void save(StoredFile file) {
    LocalDisk.write(pathOf(file.sessionId(), file.id()), Json.write(file));
    // In the session's atomic step: a delete that empties the session drops its map in its own.
    bySession.compute(
        file.sessionId(),
        (k, files) -> {
          Map<String, StoredFile> into = files == null ? new ConcurrentHashMap<>() : files;
          into.put(file.id(), file);
          return into;
        });
  }

  @Override
  public Optional<StoredFile> find(String sessionId, String fileId) {
    return Optional.ofNullable(bySession.getOrDefault(sessionId, Map.of()).get(fileId));
  }

  @Override
  public SessionUsage usage(String sessionId) {
    // One pass, so the count and the bytes are of the same files while saves and deletes go on.
    int count = 0;
    long bytes = 0;
    for (StoredFile f : bySession.getOrDefault(sessionId, Map.of()).values()) {
      count++;
      bytes += f.size();
    }
    return new SessionUsage(count, bytes);
  }

  @Override
  public List<StoredFile> list(String sessionId) {
    return bySession.getOrDefault(sessionId, Map.of()).values().stream()
        .sorted(Comparator.comparing(StoredFile::createdAt).thenComparing(StoredFile::id))
        .toList();
  }

  @Override
  public boolean delete(String sessionId, String fileId) {
    Map<String, StoredFile> files = bySession.get(sessionId);
    if (files == null || files.remove(fileId) == null) {
      return false;
    }
    try {
      Files.deleteIfExists(pathOf(sessionId, fileId));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    dropIfEmpty(sessionId);
    return true;
  }

  /**
   * A session's last file gone, its map and directory go too, or every session that ever had a file
   * would hold them for good. The map only while it is still empty, in the atomic step a save puts
   * into it in. The directory only if empty: a save's file in it keeps it (see
   * LocalDisk.deleteEmptyDirs).
   */
  private void dropIfEmpty(String sessionId) {
    if (bySession.computeIfPresent(sessionId, (k, files) -> files.isEmpty() ? null : files)
        != null) {
      return;
    }
    LocalDisk.deleteEmptyDirs(dir.resolve(sessionId), dir);
  }

  /** How many sessions' maps are held (for tests). */
  int sessionsHeld() {
    return bySession.size();
  }

  private Path pathOf(String sessionId, String fileId) {
    return dir.resolve(sessionId).resolve(fileId + ".json");
  }

  private void load() {
    LocalDisk.readAll(
        dir,
        2,
        StoredFile.class,
        "file metadata",
        f -> {
          // A record without what every listing and download reads is skipped (readAll logs it),
          // not a 500 on every later request for its session.
          Objects.requireNonNull(f.name(), "no name");
          Objects.requireNonNull(f.objectKey(), "no object key");
          Objects.requireNonNull(f.createdAt(), "no creation time");
          bySession.computeIfAbsent(f.sessionId(), k -> new ConcurrentHashMap<>()).put(f.id(), f);
        });
  }
}
