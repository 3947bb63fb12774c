package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

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

  @ParameterizedTest
  @ValueSource(strings = {"../../etc/passwd", "/etc/passwd", "a/../../b", "..", ".", "", "a\\b"})
  void refusesNamesThatLeaveTheWorkdir(String name) {
    ApiError e =
        assertThrows(ApiError.class, () -> SandboxPaths.checkRelative(name, "files[0].name"));
    assertEquals(400, e.status());
    assertEquals("files[0].name", e.details().get(0).field());
  }
}
