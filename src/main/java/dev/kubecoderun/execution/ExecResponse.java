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
    @JsonProperty("state_hash") String stateHash) {

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
}
