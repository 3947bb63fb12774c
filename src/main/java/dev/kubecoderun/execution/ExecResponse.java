package dev.kubecoderun.execution;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/** The /exec answer (200 for every outcome of the user's code). */
public record ExecResponse(
    @JsonProperty("session_id") String sessionId,
    String stdout,
    String stderr,
    List<OutputFile> files,
    @JsonProperty("deleted_files") @JsonInclude(JsonInclude.Include.NON_EMPTY)
        List<String> deletedFiles,
    String status,
    int code,
    @JsonInclude(JsonInclude.Include.NON_NULL) String signal,
    @JsonProperty("wall_time") long wallTimeMs,
    @JsonProperty("has_state") boolean hasState,
    @JsonProperty("state_size") Integer stateSize,
    @JsonProperty("state_hash") String stateHash,
    @JsonProperty("skipped_files") @JsonInclude(JsonInclude.Include.NON_EMPTY)
        List<SkippedFile> skippedFiles,
    @JsonProperty("artifact_delivery") @JsonInclude(JsonInclude.Include.NON_NULL)
        ArtifactDelivery artifactDelivery) {

  /** A file the run created or modified. */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record OutputFile(
      String id,
      String name,
      @JsonProperty("storage_session_id") String storageSessionId,
      @JsonProperty("modified_from") ModifiedFrom modifiedFrom) {}

  /** The input file a modified output replaces. */
  public record ModifiedFrom(
      String id, @JsonProperty("storage_session_id") String storageSessionId) {}

  /**
   * A file the run created or modified that is not returned. {@code reason}: {@code too_large}
   * (over MAX_FILE_SIZE_MB), {@code too_many} (over MAX_OUTPUT_FILES), {@code unreadable} (the
   * runner could not read it; {@code message} says why), {@code not_a_file} (a symlink, named pipe,
   * socket or device: only regular files are returned), {@code server_busy} (no room in the memory
   * budget to store it within the wait), {@code unusable_name} (a name that could not be sent back
   * as an input), {@code session_full} (the session holds MAX_SESSION_FILES files), {@code
   * total_too_large} (the run's files together past its sandbox's disk), {@code
   * session_storage_full} (the session's files together past MAX_SESSION_STORAGE_MB). Each is
   * listed in the OpenAPI document's enum.
   */
  @JsonInclude(JsonInclude.Include.NON_NULL)
  public record SkippedFile(String name, String reason, Long size, String message) {}

  /**
   * LibreChat's own summary of files that could not be kept (its client shows the model "N of M
   * generated files could not be persisted"): present only when at least one failed.
   */
  public record ArtifactDelivery(
      String code, String status, int attempted, int delivered, int failed) {
    public static ArtifactDelivery of(int delivered, int failed) {
      if (failed == 0) {
        return null;
      }
      return new ArtifactDelivery(
          "artifact_delivery_failed",
          delivered == 0 ? "failed" : "partial",
          delivered + failed,
          delivered,
          failed);
    }
  }
}
