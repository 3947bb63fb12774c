package dev.kubecoderun.sandbox;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/**
 * Body of the runner's POST /execute (docs/runner-protocol.md). {@code maxStateBytes}: the largest
 * Python state the caller keeps (null: the runner's own bound); a larger one is not sent back.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunnerRequest(
    String language,
    String code,
    @JsonProperty("timeout_ms") long timeoutMs,
    List<String> args,
    String state,
    @JsonProperty("capture_state") boolean captureState,
    @JsonProperty("max_state_bytes") Long maxStateBytes) {

  /** A request that leaves the state's bound to the runner. */
  public RunnerRequest(
      String language,
      String code,
      long timeoutMs,
      List<String> args,
      String state,
      boolean captureState) {
    this(language, code, timeoutMs, args, state, captureState, null);
  }
}
