package dev.kubecoderun.files;

import java.time.Instant;
import java.util.Locale;

/**
 * Metadata of one stored file. {@code name} is its path relative to /mnt/data (sub-folders
 * allowed); {@code objectKey} locates its bytes in the object store and never contains the name.
 * {@code owner} and {@code tenant} are the principal that stored it and {@code sharing} who else
 * may read it; all three are null on a file written before owners were recorded, which belongs to
 * its session's owner. {@code readOnly}: an upload sent with {@code read_only=true} (LibreChat's
 * skill files), whose changes by a run are not kept.
 */
public record StoredFile(
    String sessionId,
    String id,
    String name,
    String contentType,
    String objectKey,
    long size,
    Instant createdAt,
    Kind kind,
    String owner,
    String tenant,
    Sharing sharing,
    boolean readOnly) {

  /** A file without an owner (as the Python version and earlier releases wrote them). */
  public StoredFile(
      String sessionId,
      String id,
      String name,
      String contentType,
      String objectKey,
      long size,
      Instant createdAt,
      Kind kind) {
    this(
        sessionId,
        id,
        name,
        contentType,
        objectKey,
        size,
        createdAt,
        kind,
        null,
        null,
        null,
        false);
  }

  /** Where a file came from. */
  public enum Kind {
    UPLOAD,
    OUTPUT
  }

  /**
   * LibreChat's file kinds (the upload's {@code kind} field): a {@code user} file is its owner's
   * alone; {@code agent} and {@code skill} files are shared with the owner's whole tenant (every
   * user of an agent reads its files).
   */
  public enum Sharing {
    USER,
    AGENT,
    SKILL;

    public String code() {
      return name().toLowerCase(Locale.ROOT);
    }

    /** The kind named {@code code} (case-insensitive), or null. */
    public static Sharing parse(String code) {
      for (Sharing s : values()) {
        if (s.code().equalsIgnoreCase(code)) {
          return s;
        }
      }
      return null;
    }

    boolean tenantWide() {
      return this != USER;
    }
  }

  /** The path the reference API reports: /name for uploads, /outputs/name for outputs. */
  public String path() {
    return kind == Kind.UPLOAD ? "/" + name : "/outputs/" + name;
  }

  public boolean isLegacy() {
    return owner == null;
  }

  /** Readable by a principal of {@code tenant} that is not its owner. */
  public boolean sharedWith(String tenant) {
    return sharing != null && sharing.tenantWide() && tenant.equals(this.tenant);
  }

  public static String objectKey(String sessionId, Kind kind, String fileId) {
    return "sessions/" + sessionId + (kind == Kind.UPLOAD ? "/uploads/" : "/outputs/") + fileId;
  }
}
