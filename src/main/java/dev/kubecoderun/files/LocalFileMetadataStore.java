package dev.kubecoderun.files;

import dev.kubecoderun.common.Json;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
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
    bySession
        .computeIfAbsent(file.sessionId(), k -> new ConcurrentHashMap<>())
        .put(file.id(), file);
  }

  @Override
  public Optional<StoredFile> find(String sessionId, String fileId) {
    return Optional.ofNullable(bySession.getOrDefault(sessionId, Map.of()).get(fileId));
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
    return true;
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
        f ->
            bySession
                .computeIfAbsent(f.sessionId(), k -> new ConcurrentHashMap<>())
                .put(f.id(), f));
  }
}
