package dev.kubecoderun.sandbox;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/** Answer of the runner's POST /execute (docs/runner-protocol.md). */
public record RunnerResult(
    @JsonProperty("exit_code") int exitCode,
    String signal,
    @JsonProperty("timed_out") boolean timedOut,
    String stdout,
    String stderr,
    @JsonProperty("stdout_truncated") boolean stdoutTruncated,
    @JsonProperty("stderr_truncated") boolean stderrTruncated,
    @JsonProperty("duration_ms") double durationMs,
    String state,
    @JsonProperty("state_errors") List<String> stateErrors,
    List<ChangedFile> files,
    @JsonProperty("files_omitted") int filesOmitted,
    List<Unlisted> unlisted,
    List<String> deleted,
    @JsonProperty("sandbox_ended") boolean sandboxEnded) {

  /**
   * A path the API goes on to sort, read and name in the answer is never missing: an answer without
   * one is not the runner's and is refused as a whole (a sandbox failure).
   */
  public RunnerResult {
    if (files != null && files.stream().anyMatch(f -> f == null || f.path() == null)
        || unlisted != null && unlisted.stream().anyMatch(u -> u == null || u.path() == null)
        || deleted != null && deleted.contains(null)) {
      throw new IllegalArgumentException("a file entry without a path");
    }
  }

  /**
   * What the runner could not list: a folder it could not look into, or (with {@code kind}) an
   * entry that is not a regular file (symlink, named pipe, socket, device).
   */
  public record Unlisted(String path, String ref, String error, String kind) {}

  public List<Unlisted> unlistedPaths() {
    return unlisted == null ? List.of() : unlisted;
  }

  /**
   * A file the run created or modified under the workdir. {@code path} is its name as text (bytes
   * that are not UTF-8 shown as U+FFFD); {@code ref} its exact name encoded, to read it with.
   */
  public record ChangedFile(String path, String ref, long size, double mtime, String change) {
    public boolean modified() {
      return "modified".equals(change);
    }

    /** What to read the file by: the runner's ref, or the encoded path from an older runner. */
    public String encodedPath() {
      return ref != null ? ref : PathEncoding.encodePath(path);
    }
  }

  public List<ChangedFile> changedFiles() {
    return files == null ? List.of() : files;
  }

  public List<String> deletedFiles() {
    return deleted == null ? List.of() : deleted;
  }
}
