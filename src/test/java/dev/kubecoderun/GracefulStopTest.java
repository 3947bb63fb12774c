package dev.kubecoderun;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.RunnerBinary;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A SIGTERM stops the API cleanly, and what the stop logs reaches the log. */
@Tag("integration")
class GracefulStopTest {
  /** The API as a process of its own, with warm pools of {@code py} and {@code js} sandboxes. */
  private static ProcessBuilder api(int py, int js) throws IOException {
    return MainProcess.builder(
        "graceful-stop-test-key-0123",
        Map.of(
            "API_PORT",
            "0",
            "POD_POOL_PY",
            Integer.toString(py),
            "POD_POOL_JS",
            Integer.toString(js),
            "RUNNER_BIN",
            RunnerBinary.path()));
  }

  /**
   * What one test's API may take, its start, warm pools and stop together. Past it the watchdog of
   * {@link #started} kills it: its stderr ends, and a test reading it fails instead of waiting for
   * ever (a background job, as CI runs this test, ignores SIGINT: a hang there hung CI once).
   */
  private static final Duration LIFE = Duration.ofMinutes(3);

  /** {@code pb} started, with a watchdog that kills it and what it started {@link #LIFE} after. */
  private static Process started(ProcessBuilder pb) throws IOException {
    Process p = pb.start();
    Thread.ofVirtual()
        .start(
            () -> {
              try {
                if (p.waitFor(LIFE.toMillis(), TimeUnit.MILLISECONDS)) {
                  return;
                }
              } catch (InterruptedException e) {
                // killed all the same
              }
              p.descendants().forEach(ProcessHandle::destroyForcibly);
              p.destroyForcibly();
            });
    return p;
  }

  private static BufferedReader stderr(Process p) {
    return new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8));
  }

  /**
   * Reads the API's log into {@code lines} until it listens; one that ends first fails the test.
   */
  private static void awaitListening(BufferedReader err, List<String> lines) throws IOException {
    String line;
    while ((line = err.readLine()) != null && !line.contains(" listening on ")) {
      lines.add(line);
    }
    assertTrue(line != null, "the API did not start: " + String.join("\n", lines));
  }

  /** Reads the rest of the API's log into {@code lines}, until it ends with the process. */
  private static void readToTheEnd(BufferedReader err, List<String> lines) throws IOException {
    String line;
    while ((line = err.readLine()) != null) {
      lines.add(line);
    }
  }

  @Test
  void theStopsOwnLogLinesAreNotLost() throws Exception {
    Process p = started(api(0, 0));
    List<String> lines = new ArrayList<>();
    try (BufferedReader err = stderr(p)) {
      awaitListening(err, lines);
      p.toHandle().destroy(); // SIGTERM, leaving our end of its stderr open
      readToTheEnd(err, lines);
    } finally {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    assertTrue(
        lines.stream().anyMatch(l -> l.contains("stopped")),
        "the stop's last line is logged:\n" + String.join("\n", lines));
  }

  /**
   * Ctrl-C in a terminal, or a supervisor's stop, signals the whole process group: the sandbox jail
   * gets it with the API and ends its sandboxes itself. The API's stop then finds the jail gone, as
   * it should: no warning that it could not destroy a sandbox, start a warm one, or that the jail
   * exited. The signal is SIGTERM: a command started in the background (CI runs this test so)
   * ignores SIGINT, and so would the JVM.
   */
  @Test
  void aCtrlCToTheWholeProcessGroupStopsWithoutWarningsOfTheJailGone() throws Exception {
    ProcessBuilder pb = api(3, 1);
    // A process group of its own (setsid execs the JVM: same pid), as a shell gives a command.
    pb.command().add(0, "setsid");
    Process p = started(pb);
    List<String> lines = new ArrayList<>();
    long stopNanos;
    try (BufferedReader err = stderr(p)) {
      awaitListening(err, lines);
      // The warm sandboxes up: two holder processes each.
      dev.kubecoderun.testing.Eventually.await(
          "the warm sandboxes",
          Duration.ofSeconds(60),
          () ->
              p.toHandle()
                      .descendants()
                      .filter(
                          d ->
                              d.info()
                                  .commandLine()
                                  .map(c -> c.contains("runner-holder"))
                                  .orElse(false))
                      .count()
                  >= 8);
      long stopping = System.nanoTime();
      new ProcessBuilder("kill", "-TERM", "--", "-" + p.pid()).inheritIO().start().waitFor();
      readToTheEnd(err, lines); // its stderr ends with it (the jail's goes to a file)
      stopNanos = System.nanoTime() - stopping;
    } finally {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    String log = String.join("\n", lines);
    assertTrue(lines.stream().anyMatch(l -> l.contains("stopped")), "stopped:\n" + log);
    assertTrue(
        stopNanos < TimeUnit.MINUTES.toNanos(1),
        "stopped within a minute, not " + stopNanos / 1_000_000 + " ms:\n" + log);
    for (String quiet :
        List.of("cannot destroy sandbox", "cannot start a", "the sandbox jail exited")) {
      assertTrue(lines.stream().noneMatch(l -> l.contains(quiet)), quiet + ":\n" + log);
    }
  }
}
