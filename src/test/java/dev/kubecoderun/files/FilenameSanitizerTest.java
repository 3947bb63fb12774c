package dev.kubecoderun.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

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

  @Test
  void anUploadedCleanRelativePathIsKeptAsSent() {
    assertEquals(
        "skills/My Skill/scripts/run.py",
        FilenameSanitizer.uploadName("skills/My Skill/scripts/run.py"));
    assertEquals("dir/a.csv", FilenameSanitizer.uploadName("dir/a.csv"));
    assertEquals("d/.env", FilenameSanitizer.uploadName("d/.env"));
    assertEquals("d/résumé.docx", FilenameSanitizer.uploadName("d/résumé.docx"));
    // Without a '/', today's rule.
    assertEquals("my_data.csv", FilenameSanitizer.uploadName("my data.csv"));
    assertEquals("_.hidden", FilenameSanitizer.uploadName(".hidden"));
    assertEquals("_", FilenameSanitizer.uploadName(null));
  }

  @ParameterizedTest
  @CsvSource({
    "../../etc/passwd, passwd",
    "../x/a.txt, a.txt",
    "a/../b.txt, b.txt",
    "/etc/a.txt, a.txt",
    "/mnt/data/a.txt, a.txt",
    "a//b.txt, b.txt",
    "a/./b, b",
    "./a/b, b",
    "dir/, _",
    "a\\b/c d.txt, c_d.txt",
  })
  void anUnsafeOrUncleanPathFallsBackToItsSanitizedLastComponent(String raw, String expected) {
    assertEquals(expected, FilenameSanitizer.uploadName(raw));
  }

  @Test
  void controlCharactersAndOverlongPathsFallBackToo() {
    assertEquals("b_c.txt", FilenameSanitizer.uploadName("a/b\tc.txt"));
    assertEquals("_b.txt", FilenameSanitizer.uploadName("a/\u202Eb.txt"));
    assertEquals("b.txt", FilenameSanitizer.uploadName("a\u0000/b.txt"));
    String longSegment = "x".repeat(RelativePaths.MAX_SEGMENT_BYTES + 1);
    assertEquals(255, FilenameSanitizer.uploadName("a/" + longSegment).length());
    assertEquals(
        "a/" + "x".repeat(RelativePaths.MAX_SEGMENT_BYTES),
        FilenameSanitizer.uploadName("a/" + "x".repeat(RelativePaths.MAX_SEGMENT_BYTES)));
    String deep = "d/".repeat(RelativePaths.MAX_DEPTH) + "f.txt";
    assertEquals("f.txt", FilenameSanitizer.uploadName(deep));
    String deepest = "d/".repeat(RelativePaths.MAX_DEPTH - 1) + "f.txt";
    assertEquals(deepest, FilenameSanitizer.uploadName(deepest));
    String wide = ("y".repeat(200) + "/").repeat(6) + "f.txt";
    assertEquals("f.txt", FilenameSanitizer.uploadName(wide));
  }
}
