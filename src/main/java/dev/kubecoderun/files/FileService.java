package dev.kubecoderun.files;

import dev.kubecoderun.session.Ids;
import java.io.IOException;
import java.io.InputStream;
import java.time.Clock;
import java.util.List;
import java.util.Optional;

/**
 * Stores, finds and deletes a session's files. Bytes go to the object store before the metadata
 * that points at them, so no metadata ever names a missing object; a failed metadata write removes
 * the object again.
 */
public final class FileService {
  private final FileMetadataStore metadata;
  private final ObjectStore objects;
  private final Clock clock;

  public FileService(FileMetadataStore metadata, ObjectStore objects, Clock clock) {
    this.metadata = metadata;
    this.objects = objects;
    this.clock = clock;
  }

  /** Stores an upload under its sanitized name. */
  public StoredFile upload(
      String sessionId, String rawName, String contentType, InputStream in, long maxBytes)
      throws IOException {
    return store(
        sessionId,
        FilenameSanitizer.sanitize(rawName),
        contentType == null ? "application/octet-stream" : contentType,
        in,
        maxBytes,
        StoredFile.Kind.UPLOAD);
  }

  /** Stores a file a run created or modified, under its path relative to /mnt/data. */
  public StoredFile storeOutput(String sessionId, String name, InputStream in, long maxBytes)
      throws IOException {
    return store(sessionId, name, "application/octet-stream", in, maxBytes, StoredFile.Kind.OUTPUT);
  }

  private StoredFile store(
      String sessionId,
      String name,
      String contentType,
      InputStream in,
      long maxBytes,
      StoredFile.Kind kind)
      throws IOException {
    String id = Ids.next();
    String key = StoredFile.objectKey(sessionId, kind, id);
    long size = objects.put(key, in, maxBytes, contentType);
    StoredFile file =
        new StoredFile(sessionId, id, name, contentType, key, size, clock.instant(), kind);
    try {
      metadata.save(file);
    } catch (RuntimeException e) {
      objects.delete(key);
      throw e;
    }
    return file;
  }

  public Optional<StoredFile> find(String sessionId, String fileId) {
    return metadata.find(sessionId, fileId);
  }

  /**
   * A file reference from a client: by id in its session, else (older clients) the newest file of
   * that session whose name or id matches.
   */
  public Optional<StoredFile> resolve(String sessionId, String fileId, String name) {
    if (fileId != null) {
      Optional<StoredFile> byId = metadata.find(sessionId, fileId);
      if (byId.isPresent()) {
        return byId;
      }
    }
    List<StoredFile> files = metadata.list(sessionId);
    for (int i = files.size() - 1; i >= 0; i--) {
      StoredFile f = files.get(i);
      if (f.name().equals(name) || f.name().equals(fileId) || f.id().equals(fileId)) {
        return Optional.of(f);
      }
    }
    return Optional.empty();
  }

  public List<StoredFile> list(String sessionId) {
    return metadata.list(sessionId);
  }

  /** The file's bytes, or empty when the object is gone. The caller closes the stream. */
  public Optional<InputStream> open(StoredFile file) throws IOException {
    return objects.open(file.objectKey());
  }

  /** {@code length} bytes (at least one) of the file from {@code offset}; see {@link #open}. */
  public Optional<InputStream> open(StoredFile file, long offset, long length) throws IOException {
    return objects.open(file.objectKey(), offset, length);
  }

  /**
   * Deletes every file of a session: the metadata-listed ones, then any object left under the
   * session's prefix (an upload whose metadata write failed). Returns how many objects went.
   */
  public int deleteSession(String sessionId, int maxObjects) throws IOException {
    int deleted = 0;
    for (StoredFile f : metadata.list(sessionId)) {
      if (delete(sessionId, f.id())) {
        deleted++;
      }
    }
    for (ObjectStore.ObjectSummary o :
        objects.list("sessions/" + sessionId + "/", null, maxObjects)) {
      objects.delete(o.key());
      deleted++;
    }
    return deleted;
  }

  /** Deletes metadata first: a failure after it leaves an orphan object, never a dangling name. */
  public boolean delete(String sessionId, String fileId) throws IOException {
    Optional<StoredFile> file = metadata.find(sessionId, fileId);
    if (file.isEmpty() || !metadata.delete(sessionId, fileId)) {
      return false;
    }
    objects.delete(file.get().objectKey());
    return true;
  }
}
