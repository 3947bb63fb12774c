package dev.kubecoderun.files;

import java.time.Instant;

/**
 * Metadata of one stored file. {@code name} is its path relative to /mnt/data (sub-folders
 * allowed); {@code objectKey} locates its bytes in the object store and never contains the name.
 */
public record StoredFile(
    String sessionId,
    String id,
    String name,
    String contentType,
    String objectKey,
    long size,
    Instant createdAt,
    Kind kind) {

  /** Where a file came from. */
  public enum Kind {
    UPLOAD,
    OUTPUT
  }

  /** The path the reference API reports: /name for uploads, /outputs/name for outputs. */
  public String path() {
    return kind == Kind.UPLOAD ? "/" + name : "/outputs/" + name;
  }

  public static String objectKey(String sessionId, Kind kind, String fileId) {
    return "sessions/" + sessionId + (kind == Kind.UPLOAD ? "/uploads/" : "/outputs/") + fileId;
  }
}
