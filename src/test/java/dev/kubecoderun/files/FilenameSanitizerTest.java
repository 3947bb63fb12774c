package dev.kubecoderun.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class FilenameSanitizerTest {
  @Test
  void replacesEveryCharacterOutsideTheSafeSetWithAnUnderscore() {
    assertEquals("file_with_spaces.txt", FilenameSanitizer.sanitize("file with spaces.txt"));
    assertEquals(
        "manufacturing_analysis__v2_.xlsx",
        FilenameSanitizer.sanitize("manufacturing_analysis (v2).xlsx"));
    assertEquals("r_sum_.docx", FilenameSanitizer.sanitize("résumé.docx"));
  }

  @Test
  void keepsOnlyTheLastPathComponent() {
    assertEquals("passwd", FilenameSanitizer.sanitize("../../../etc/passwd"));
  }

  @Test
  void prefixesHiddenNamesAndHandlesEmptyOnes() {
    assertEquals("_.hidden", FilenameSanitizer.sanitize(".hidden"));
    assertEquals("_", FilenameSanitizer.sanitize(""));
    assertEquals("_", FilenameSanitizer.sanitize(null));
    assertEquals("_", FilenameSanitizer.sanitize("dir/"));
  }

  @Test
  void shortensLongNamesButKeepsTheExtension() {
    String out = FilenameSanitizer.sanitize("a".repeat(300) + ".csv");
    assertEquals(255, out.length());
    assertTrue(out.endsWith(".csv"));
    assertTrue(out.matches("a+-[0-9a-f]{6}\\.csv"), out);
  }
}
