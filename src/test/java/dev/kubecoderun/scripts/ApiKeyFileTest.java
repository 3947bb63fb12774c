package dev.kubecoderun.scripts;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.SmallDisk;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * scripts/run's generated API key (DATA_DIR/api-key, the embedded default without API_KEY): kept
 * across starts, and written whole or not at all.
 */
class ApiKeyFileTest {
  private record Result(int exit, String out) {}

  private static Result apiKeyFile(Path file) throws IOException, InterruptedException {
    Process p =
        new ProcessBuilder(
                "bash",
                "-c",
                "source scripts/lib/common.sh && api_key_file \"$1\"",
                "-",
                file.toString())
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
    return new Result(p.waitFor(), out);
  }

  @Test
  void aFullDiskLeavesNoKeyFileAndTheNextStartMakesAWholeOne() throws Exception {
    try (SmallDisk disk = SmallDisk.mount(1)) {
      Path file = disk.root.resolve("api-key");
      disk.fill();
      Result full = apiKeyFile(file);
      assertNotEquals(0, full.exit());
      try (var names = Files.list(disk.root)) {
        assertEquals(List.of(disk.root.resolve("filler")), names.toList(), "nothing left behind");
      }

      disk.makeRoom();
      Result made = apiKeyFile(file);
      assertEquals(0, made.exit());
      assertTrue(made.out().matches("[A-Za-z0-9]{24,}"), made.out());
      assertEquals(made.out(), Files.readString(file).trim());
      assertEquals(made, apiKeyFile(file), "kept across starts");
    }
  }
}
