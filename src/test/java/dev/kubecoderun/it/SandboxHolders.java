package dev.kubecoderun.it;

import java.util.stream.Stream;

/**
 * The holders of local jail sandboxes, seen as root: {@code runner-holder} runs as two processes
 * per sandbox, the one that made the namespaces and its child, the holder (PID 1 of the sandbox,
 * whose {@code /proc/PID/root} is the sandbox's root).
 */
final class SandboxHolders {
  private SandboxHolders() {}

  /** The holders among {@code processes}. */
  static Stream<ProcessHandle> among(Stream<ProcessHandle> processes) {
    return processes.filter(
        p -> isRunnerHolder(p) && p.parent().map(SandboxHolders::isRunnerHolder).orElse(false));
  }

  private static boolean isRunnerHolder(ProcessHandle p) {
    return p.info().commandLine().map(c -> c.contains("runner-holder")).orElse(false);
  }
}
