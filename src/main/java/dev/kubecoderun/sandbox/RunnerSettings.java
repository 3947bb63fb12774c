package dev.kubecoderun.sandbox;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What every sandbox's runner is started with, on any backend, from the typed configuration: the
 * API's limits the runner enforces, the modules a warm Python preloads, and how long a sandbox may
 * take to start. Described once; each backend passes {@link #environment()} to its runners.
 */
public record RunnerSettings(
    Duration startTimeout,
    long maxTimeoutMs,
    int maxOutputBytes,
    long maxFileBytes,
    String pythonPreload) {

  /** The runner's RUNNER_* variables for these settings (docs/runner-protocol.md). */
  public Map<String, String> environment() {
    Map<String, String> env = new LinkedHashMap<>();
    env.put("RUNNER_PY_PRELOAD", pythonPreload);
    env.put("RUNNER_MAX_OUTPUT", Integer.toString(maxOutputBytes));
    env.put("RUNNER_MAX_TIMEOUT_MS", Long.toString(maxTimeoutMs));
    // RLIMIT_FSIZE of everything a run writes (build artefacts included), and the input limit.
    env.put("RUNNER_MAX_FILE_SIZE", Long.toString(maxFileBytes));
    return env;
  }
}
