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
   * How many files the session has and their sizes added up, as {@link #list} finds them, without
   * loading them (Redis reads two fields of each record): what MAX_SESSION_FILES and
   * MAX_SESSION_STORAGE_MB bound, and what a listing pays for before it loads them.
   */
  SessionUsage usage(String sessionId);

  boolean delete(String sessionId, String fileId);
}
