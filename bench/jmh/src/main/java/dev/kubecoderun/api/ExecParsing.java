package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.execution.ExecCommand;

/** Opens the /exec request parsing (package-private in the API) to the benchmarks. */
public final class ExecParsing {
  private ExecParsing() {}

  public static ExecCommand parse(JsonNode body) {
    return ExecEndpoint.parse(Principal.apiKey("jmh-key"), body, 100);
  }
}
