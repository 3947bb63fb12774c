package dev.kubecoderun.files;

import java.util.List;
import java.util.Optional;

/** Where file metadata lives: memory (embedded) or Redis (production). */
public interface FileMetadataStore {
  void save(StoredFile file);

  Optional<StoredFile> find(String sessionId, String fileId);

  /** A session's files, oldest first. */
  List<StoredFile> list(String sessionId);

  /**
   * How many files the session has, without loading them (Redis counts its set). This default lists
   * them: the embedded store holds them in memory already.
   */
  default int count(String sessionId) {
    return list(sessionId).size();
  }

  /**
   * How many files the session has and their sizes added up, as {@link #list} finds them, without
   * loading them (Redis reads one field of each record). This default lists them.
   */
  default SessionUsage usage(String sessionId) {
    List<StoredFile> files = list(sessionId);
    return new SessionUsage(files.size(), files.stream().mapToLong(StoredFile::size).sum());
  }

  boolean delete(String sessionId, String fileId);
}
