package dev.kubecoderun;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Layers point one way: the HTTP layer knows the domain, the domain never knows HTTP; sandboxes
 * know nothing of executions; the shared packages at the bottom know nothing of the rest.
 */
class LayersTest {
  private static final Path MAIN = Path.of("src/main/java/dev/kubecoderun");
  private static final Pattern IMPORT =
      Pattern.compile(
          "^import (?:static )?dev\\.kubecoderun\\.([a-z.]+)\\.[A-Z]", Pattern.MULTILINE);

  /** "package imports package" for every import of a project class, e.g. "sandbox -> execution". */
  private static List<String> edges() throws IOException {
    List<String> out = new ArrayList<>();
    try (Stream<Path> files = Files.walk(MAIN)) {
      for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
        Path dir = MAIN.relativize(f.getParent());
        String from = dir.toString().isEmpty() ? "(root)" : dir.toString().replace('/', '.');
        Matcher m = IMPORT.matcher(Files.readString(f));
        while (m.find()) {
          out.add(from + " -> " + m.group(1) + "  (" + f.getFileName() + ")");
        }
      }
    }
    return out;
  }

  private static List<String> violations(String fromPrefix, String toPrefix) throws IOException {
    return edges().stream()
        .filter(e -> e.startsWith(fromPrefix))
        .filter(e -> e.substring(e.indexOf("-> ") + 3).startsWith(toPrefix))
        .toList();
  }

  @Test
  void onlyTheHttpLayerAndTheWiringKnowHttp() throws IOException {
    List<String> bad =
        edges().stream()
            .filter(e -> e.contains("-> api"))
            .filter(e -> !e.startsWith("api ") && !e.startsWith("(root) "))
            .toList();
    assertEquals(List.of(), bad);
  }

  @Test
  void sandboxesKnowNothingOfExecutions() throws IOException {
    assertEquals(List.of(), violations("sandbox", "execution"));
  }

  @Test
  void theSharedPackagesDependOnNothingOfTheProject() throws IOException {
    assertEquals(List.of(), violations("language ", ""));
    assertEquals(List.of(), violations("common ", ""));
    assertEquals(List.of(), violations("memory ", ""));
  }
}
