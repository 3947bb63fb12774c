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
}
