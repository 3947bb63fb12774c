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

  boolean delete(String sessionId, String fileId);
}
