package dev.kubecoderun.language;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.config.Config;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LibrariesTest {
  private final Libraries bundled = Libraries.bundled();

  private static List<String> uses(List<Libraries.Library> libs) {
    return libs.stream().flatMap(l -> l.use().stream()).toList();
  }

  /**
   * What issue 16 found missing on the local backend must be in the lists every sandbox installs.
   */
  @Test
  void theListsHoldWhatDataWorkImports() {
    assertTrue(
        uses(bundled.of(Language.PY))
            .containsAll(
                List.of(
                    "sklearn",
                    "seaborn",
                    "statsmodels",
                    "networkx",
                    "xlrd",
                    "xlsxwriter",
                    "pyarrow",
                    "tabulate",
                    "docx",
                    "pptx",
                    "pypdf",
                    "reportlab",
                    "bs4")),
        () -> uses(bundled.of(Language.PY)).toString());
    assertTrue(
        uses(bundled.of(Language.R))
            .containsAll(List.of("ggplot2", "dplyr", "data.table", "jsonlite")));
    assertTrue(uses(bundled.of(Language.JS)).containsAll(List.of("lodash", "mathjs")));
    assertEquals(bundled.of(Language.JS), bundled.of(Language.TS));
    assertTrue(uses(bundled.of(Language.PHP)).contains("mbstring"));
    assertTrue(uses(bundled.of(Language.CPP)).contains("nlohmann/json.hpp"));
    assertTrue(uses(bundled.of(Language.BASH)).contains("jq"));
    assertTrue(bundled.of(Language.GO).isEmpty(), "Go: the standard library only");
  }

  /** The state shim and the warm interpreter's preload need their modules in the venv. */
  @Test
  void pythonHasWhatTheRunnerImports() {
    List<String> modules = uses(bundled.of(Language.PY));
    assertTrue(modules.containsAll(List.of("cloudpickle", "lz4.frame")), modules::toString);
    String preload =
        Config.from(Map.of("API_KEY", "a-key-of-16-chars-or-more")).sandbox().pythonPreload();
    for (String m : preload.split(",")) {
      assertTrue(modules.contains(m.strip()), "RUNNER_PY_PRELOAD names " + m + ", not in the list");
    }
  }

  @Test
  void versionsComeFromTheLockFiles() {
    Libraries.Library sklearn =
        bundled.of(Language.PY).stream()
            .filter(l -> l.name().equals("scikit-learn"))
            .findFirst()
            .orElseThrow();
    assertEquals(List.of("sklearn"), sklearn.use());
    assertTrue(sklearn.version().matches("\\d+\\.\\d+.*"), sklearn.version());
    for (Libraries.Library l : bundled.of(Language.JS)) {
      assertTrue(l.version().matches("\\d+\\.\\d+\\.\\d+.*"), l.toString());
      assertFalse(l.name().startsWith("@types/") || l.name().equals("typescript"), l.name());
    }
    for (Libraries.Library l : bundled.of(Language.R)) {
      assertNull(l.version(), "Debian packages: the installing machine decides");
      assertEquals(Libraries.Source.DEBIAN, l.source());
    }
  }

  @Test
  void aStaleLockIsAnError() {
    IllegalStateException e =
        assertThrows(
            IllegalStateException.class,
            () ->
                Libraries.python(
                    "numpy>=2\nscikit-learn>=1  # import: sklearn\n",
                    "numpy==2.0.0 \\\n    --hash=sha256:00\n"));
    assertTrue(e.getMessage().contains("scripts/lock-libraries"), e.getMessage());
    assertEquals(
        "2.0.0",
        Libraries.python("numpy>=2\n", "numpy==2.0.0 \\\n    --hash=sha256:00\n").get(0).version());

    String pkg = "{\"dependencies\": {\"lodash\": \"^4\"}}";
    String lock =
        "{\"packages\": {\"\": {\"dependencies\": {\"lodash\": \"^3\"}},"
            + " \"node_modules/lodash\": {\"version\": \"3.0.0\"}}}";
    e = assertThrows(IllegalStateException.class, () -> Libraries.npm(pkg, lock));
    assertTrue(e.getMessage().contains("does not match"), e.getMessage());
    assertEquals(
        "4.1.0",
        Libraries.npm(pkg, lock.replace("^3", "^4").replace("3.0.0", "4.1.0")).get(0).version());
  }

  @Test
  void namesThatWouldNeedQuotingAreRefused() {
    assertThrows(IllegalStateException.class, () -> Libraries.debian("x", "jq  jq;rm\n"));
    assertThrows(
        IllegalStateException.class, () -> Libraries.debian("x", "jq\n"), "no name after it");
    assertEquals(
        List.of("dom", "xml"), Libraries.debian("x", "# c\n\nphp-xml  dom xml\n").get(0).use());
  }

  @Test
  void everyLanguageWithLibrariesHasACheckProgram() {
    for (Language l : Language.values()) {
      List<Libraries.Library> libs = bundled.of(l);
      var program = LibraryCheck.program(l, libs);
      assertEquals(!libs.isEmpty(), program.isPresent(), l.code());
      for (String use : uses(libs)) {
        assertTrue(program.orElseThrow().contains(use), l.code() + " does not use " + use);
      }
    }
  }

  @Test
  void theCatalogUsesWhatTheBackendFound() {
    LanguageCatalog unknown = new LanguageCatalog(bundled, () -> LanguageCatalog.Installed.UNKNOWN);
    LanguageCatalog.Entry py = unknown.entries().get(0);
    assertEquals(Language.PY, py.language());
    assertEquals("Python", py.name());
    assertNull(py.version());
    assertEquals(bundled.of(Language.PY), py.libraries(), "unknown: the locked versions");
    assertEquals(Language.values().length, unknown.entries().size());

    LanguageCatalog found =
        new LanguageCatalog(
            bundled,
            () ->
                new LanguageCatalog.Installed(
                    Map.of(Language.PY, "3.11.2"),
                    Map.of(Libraries.Source.PYPI, Map.of("scikit-learn", "9.9"))));
    py = found.entries().get(0);
    assertEquals("3.11.2", py.version());
    for (Libraries.Library l : py.libraries()) {
      assertEquals(l.name().equals("scikit-learn") ? "9.9" : null, l.version(), l.name());
    }
    LanguageCatalog.Entry r = found.entries().get(Language.R.ordinal());
    assertEquals(bundled.of(Language.R), r.libraries(), "no Debian versions found: as listed");
  }
}
