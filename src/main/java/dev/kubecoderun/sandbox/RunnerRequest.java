package dev.kubecoderun.sandbox;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;

/** Body of the runner's POST /execute (docs/runner-protocol.md). */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record RunnerRequest(
    String language,
    String code,
    @JsonProperty("timeout_ms") long timeoutMs,
    List<String> args,
    String state,
    @JsonProperty("capture_state") boolean captureState) {}
