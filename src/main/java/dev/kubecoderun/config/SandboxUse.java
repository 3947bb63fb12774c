package dev.kubecoderun.config;

import java.time.Duration;

/**
 * How long one run may use its sandbox, from the settings that bound each of the API's waits on the
 * runner (docs/architecture.md, "Deadlines on the runner"). The waits are bounded by these same
 * durations, so what the Kubernetes deadlines are checked against at start (KubernetesConfig) and
 * what a pod must have left to be handed out (PodLifetime) is what a run may really take.
 */
public final class SandboxUse {
  /**
   * Batches of tool calls a programmatic run may make: the runner ends the run past them
   * (LibreChat's client gives up after as many tool_call_required answers).
   */
  public static final int PROGRAMMATIC_ROUND_TRIPS = 20;

  /** How long the API waits past MAX_EXECUTION_TIME for the runner's answer to a run. */
  private static final Duration ANSWER_GRACE = Duration.ofSeconds(15);

  /**
   * What a run may spend on its pod outside the bounded waits: the API's own steps between the
   * calls, and opening a stored input, which can begin just before the inputs' deadline and end
   * past it. Also room for the node's clock, which counts the pod's activeDeadlineSeconds, running
   * ahead of the API's (PodLifetime counts on this API's monotonic clock).
   */
  private static final Duration BETWEEN_CALLS = Duration.ofSeconds(60);

  /** Past a programmatic run's segments and waits: the runner's own delays. */
  private static final Duration RUNNER_DELAYS = Duration.ofSeconds(5);

  private SandboxUse() {}

  /** The longest the API waits for the runner's answer to a run ({@code POST /execute}). */
  public static Duration execute(Duration maxExecutionTime) {
    return maxExecutionTime.plus(ANSWER_GRACE);
  }

  /**
   * The longest the runner may take to end a programmatic run, counted from when it has its
   * sandbox: each of its segments running its longest ({@code maxSegment}, MAX_EXECUTION_TIME),
   * each batch waiting its longest for results ({@code idleTimeout},
   * PTC_CONTINUATION_TIMEOUT_SECONDS), and a segment and a few seconds more for the runner's own
   * delays. A runner that has not ended it by then is not ours (on Kubernetes user code shares its
   * pod), and the run is ended as a sandbox failure.
   */
  public static Duration programmatic(Duration idleTimeout, Duration maxSegment) {
    return idleTimeout
        .plus(maxSegment)
        .multipliedBy(PROGRAMMATIC_ROUND_TRIPS + 1)
        .plus(maxSegment)
        .plus(RUNNER_DELAYS);
  }

  /**
   * The longest one run may use its sandbox pod once it has it: its input files
   * (SANDBOX_TRANSFER_TIMEOUT_SECONDS), its code (an ordinary run's answer, or a programmatic run's
   * whole budget: the pool does not know which run takes a pod), its generated files
   * (SANDBOX_TRANSFER_TIMEOUT_SECONDS again) and {@link #BETWEEN_CALLS}.
   */
  public static Duration ofARun(Config.Limits limits, Config.Sessions sessions) {
    Duration code =
        max(
            execute(limits.maxExecutionTime()),
            programmatic(sessions.ptcContinuationTimeout(), limits.maxExecutionTime()));
    return limits
        .sandboxTransferTimeout()
        .plus(code)
        .plus(limits.sandboxTransferTimeout())
        .plus(BETWEEN_CALLS);
  }

  /**
   * {@link #ofARun} in words, from the same constants, for the start-up message that refuses a
   * deadline shorter than it.
   */
  static String explained() {
    return "SANDBOX_TRANSFER_TIMEOUT_SECONDS for the inputs and again for the outputs, the longer of"
        + " MAX_EXECUTION_TIME + "
        + ANSWER_GRACE.toSeconds()
        + " s and a programmatic run's budget ((PTC_CONTINUATION_TIMEOUT_SECONDS +"
        + " MAX_EXECUTION_TIME) x "
        + (PROGRAMMATIC_ROUND_TRIPS + 1)
        + " + MAX_EXECUTION_TIME + "
        + RUNNER_DELAYS.toSeconds()
        + " s), and "
        + BETWEEN_CALLS.toSeconds()
        + " s between the calls";
  }

  private static Duration max(Duration a, Duration b) {
    return a.compareTo(b) >= 0 ? a : b;
  }
}
