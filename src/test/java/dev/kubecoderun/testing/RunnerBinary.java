package dev.kubecoderun.testing;

import java.nio.file.Path;

/** The runner binary tests start their local sandboxes with: RUNNER_BIN, else target/runner. */
public final class RunnerBinary {
  private RunnerBinary() {}

  public static String path() {
    String fromEnv = System.getenv("RUNNER_BIN");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return fromEnv;
    }
    return Path.of("target/runner").toAbsolutePath().toString();
  }
}
