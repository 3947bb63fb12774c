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
    List<String> deleted) {

  /** A file the run created or modified under the workdir. */
  public record ChangedFile(String path, long size, double mtime, String change) {
    public boolean modified() {
      return "modified".equals(change);
    }
  }

  public List<ChangedFile> changedFiles() {
    return files == null ? List.of() : files;
  }

  public List<String> deletedFiles() {
    return deleted == null ? List.of() : deleted;
  }
}
