package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.testing.OpenApiContract;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Every {@code skipped_files[].reason} the code can send is one the document lists: the reasons are
 * read from the source, each {@code new ExecResponse.SkippedFile(name, "<reason>", ...)}.
 */
class SkippedFileReasonsTest {
  private static final Pattern SKIPPED =
      Pattern.compile("new\\s+ExecResponse\\.SkippedFile\\(\\s*[^,]+,\\s*\"([^\"]+)\"");

  @Test
  void everyReasonTheServiceSendsIsInTheDocumentsEnum() throws IOException {
    Set<String> sent = new TreeSet<>();
    try (Stream<Path> sources = Files.walk(Path.of("src/main/java"))) {
      for (Path p : sources.filter(p -> p.toString().endsWith(".java")).toList()) {
        Matcher m = SKIPPED.matcher(Files.readString(p));
        while (m.find()) {
          sent.add(m.group(1));
        }
      }
    }
    assertTrue(
        sent.containsAll(Set.of("too_large", "too_many", "unreadable", "not_a_file")),
        sent.toString());
    JsonNode reasons =
        OpenApiContract.shared()
            .document()
            .at(
                "/components/schemas/ExecResponse/properties/skipped_files/items/properties/reason/enum");
    Set<String> documented = new TreeSet<>();
    reasons.forEach(r -> documented.add(r.asText()));
    Set<String> undocumented = new TreeSet<>(sent);
    undocumented.removeAll(documented);
    assertEquals(Set.of(), undocumented, "reasons sent that the document lacks");
  }
}
