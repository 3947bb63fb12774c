package dev.kubecoderun;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A SIGTERM stops the API cleanly, and what the stop logs reaches the log. */
@Tag("integration")
class GracefulStopTest {
  @Test
  void theStopsOwnLogLinesAreNotLost() throws Exception {
    String runner = System.getenv("RUNNER_BIN");
    Process p =
        MainProcess.builder(
                "graceful-stop-test-key-0123",
                Map.of(
                    "API_PORT",
                    "0",
                    "POD_POOL_PY",
                    "0",
                    "POD_POOL_JS",
                    "0",
                    "RUNNER_BIN",
                    runner != null && !runner.isBlank()
                        ? runner
                        : Path.of("target/runner").toAbsolutePath().toString()))
            .start();
    List<String> lines = new ArrayList<>();
    try (BufferedReader err =
        new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = err.readLine()) != null && !line.contains(" listening on ")) {
        lines.add(line);
      }
      assertTrue(line != null, "the API did not start: " + String.join("\n", lines));
      p.toHandle().destroy(); // SIGTERM, leaving our end of its stderr open
      while ((line = err.readLine()) != null) {
        lines.add(line);
      }
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
    String runner = System.getenv("RUNNER_BIN");
    ProcessBuilder pb =
        MainProcess.builder(
            "graceful-stop-test-key-0123",
            Map.of(
                "API_PORT",
                "0",
                "POD_POOL_PY",
                "3",
                "POD_POOL_JS",
                "1",
                "RUNNER_BIN",
                runner != null && !runner.isBlank()
                    ? runner
                    : Path.of("target/runner").toAbsolutePath().toString()));
    // A process group of its own (setsid execs the JVM: same pid), as a shell gives a command.
    pb.command().add(0, "setsid");
    Process p = pb.start();
    List<String> lines = new ArrayList<>();
    try (BufferedReader err =
        new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
      String line;
      while ((line = err.readLine()) != null && !line.contains(" listening on ")) {
        lines.add(line);
      }
      assertTrue(line != null, "the API did not start: " + String.join("\n", lines));
      // The warm sandboxes up: two holder processes each.
      dev.kubecoderun.testing.Eventually.await(
          "the warm sandboxes",
          java.time.Duration.ofSeconds(60),
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
      new ProcessBuilder("kill", "-TERM", "--", "-" + p.pid()).inheritIO().start().waitFor();
      // The stop must end: past a minute the API is killed, its stderr ends, and the test fails.
      Thread.ofVirtual()
          .start(
              () -> {
                try {
                  if (!p.waitFor(60, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                  }
                } catch (InterruptedException e) {
                  p.destroyForcibly();
                }
              });
      while ((line = err.readLine()) != null) {
        lines.add(line);
      }
    } finally {
      if (!p.waitFor(60, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
    }
    String log = String.join("\n", lines);
    assertTrue(
        lines.stream().anyMatch(l -> l.contains("stopped")), "stopped within a minute:\n" + log);
    for (String quiet :
        List.of("cannot destroy sandbox", "cannot start a", "the sandbox jail exited")) {
      assertTrue(lines.stream().noneMatch(l -> l.contains(quiet)), quiet + ":\n" + log);
    }
  }
}
