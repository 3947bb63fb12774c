package dev.kubecoderun.files;

/**
 * What a session's files take: how many (MAX_SESSION_FILES bounds it) and their bytes together
 * (MAX_SESSION_STORAGE_MB). Read from the file records each time, never kept beside them: a delete,
 * an expiry or a save cut short changes it with the records, so it cannot drift.
 */
public record SessionUsage(int files, long bytes) {
  public static final SessionUsage NONE = new SessionUsage(0, 0);
}
