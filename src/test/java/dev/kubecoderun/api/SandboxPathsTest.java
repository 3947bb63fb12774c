package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SandboxPathsTest {
  @Test
  void keepsRelativeNamesWithSubFolders() {
    assertEquals("data.csv", SandboxPaths.checkRelative("data.csv", "f"));
    assertEquals("dir/sub/a.csv", SandboxPaths.checkRelative("dir//sub/./a.csv", "f"));
    assertEquals("a.csv", SandboxPaths.checkRelative("/mnt/data/a.csv", "f"));
  }

  /**
   * An /exec name is placed where a run would return the file: the characters a generated name
   * replaces (a bidirectional override that makes "\u202etxt.exe" show as "exe.txt", control
   * characters, line separators) are `_` in it as there, and as in an uploaded name.
   */
  @Test
  void replacesTheCharactersAGeneratedNameReplaces() {
    assertEquals("_txt.exe", SandboxPaths.checkRelative("\u202etxt.exe", "f"));
    assertEquals(
        "a_b/c_d_e_f_g.txt",
        SandboxPaths.checkRelative("/mnt/data/a\u2066b/c\td\ne\u0085f\u2028g.txt", "f"));
    assertEquals(
        dev.kubecoderun.files.OutputName.of("x\u200ey\u202a.csv"),
        SandboxPaths.checkRelative("x\u200ey\u202a.csv", "f"));
  }

  @Test
  void refusesAFolderOrFileNameOverWhatTheFileSystemHolds() {
    assertEquals("d/" + "é".repeat(127), SandboxPaths.checkRelative("d/" + "é".repeat(127), "f"));
    for (String name :
        new String[] {"x".repeat(256), "é".repeat(128) + "/a", "a/" + "b".repeat(300)}) {
      ApiError e = assertThrows(ApiError.class, () -> SandboxPaths.checkRelative(name, "f"));
      assertEquals(400, e.status());
      assertEquals("invalid_path", e.details().get(0).code());
    }
  }

  /**
   * The limits of an uploaded path hold for a name sent to /exec too: 1,024 bytes after a leading
   * /mnt/data/, 32 levels. A name of megabytes is refused as fast as a short one, and its error
   * repeats only its beginning.
   */
  @Test
  void refusesANameOverTheLimitsOfAnUploadedPath() {
    String longest = ("x".repeat(200) + "/").repeat(4) + "c".repeat(220);
    assertEquals(1024, longest.length());
    assertEquals(longest, SandboxPaths.checkRelative(longest, "f"));
    assertEquals(longest, SandboxPaths.checkRelative("/mnt/data/" + longest, "f"));
    String deepest = "d/".repeat(31) + "f";
    assertEquals(deepest, SandboxPaths.checkRelative(deepest, "f"));
    for (String name :
        new String[] {
          longest + "c",
          "ab/".repeat(700),
          "a/".repeat(2_000),
          "d/".repeat(32) + "f",
          ("é".repeat(120) + "/").repeat(4) + "é".repeat(31),
          "a/".repeat(512 * 1024)
        }) {
      ApiError e = assertThrows(ApiError.class, () -> SandboxPaths.checkRelative(name, "f"));
      assertEquals(400, e.status());
      assertEquals("invalid_path", e.details().get(0).code());
      assertTrue(e.getMessage().length() < 300, e.getMessage());
    }
  }

  @ParameterizedTest
  @ValueSource(strings = {"../../etc/passwd", "/etc/passwd", "a/../../b", "..", ".", "", "a\\b"})
  void refusesNamesThatLeaveTheWorkdir(String name) {
    ApiError e =
        assertThrows(ApiError.class, () -> SandboxPaths.checkRelative(name, "files[0].name"));
    assertEquals(400, e.status());
    assertEquals("files[0].name", e.details().get(0).field());
  }
}
