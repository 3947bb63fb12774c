package dev.kubecoderun.language;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/**
 * docs/languages.md shows the libraries of the lists, as GET /languages does: its table is made
 * from them here. {@code scripts/lock-libraries} rewrites it ({@code -Dkcr.writeDocs=true}).
 */
class LibraryDocsTest {
  static final Path DOC = Path.of("docs/languages.md");
  static final String BEGIN =
      "<!-- libraries: made from languages/ by LibraryDocsTest; scripts/lock-libraries rewrites it -->\n";
  static final String END = "<!-- end of libraries -->\n";

  @Test
  void theDocsShowTheLists() throws IOException {
    String doc = Files.readString(DOC, StandardCharsets.UTF_8);
    int begin = doc.indexOf(BEGIN);
    int end = doc.indexOf(END);
    assertTrue(begin >= 0 && end > begin, DOC + " lacks the markers of the libraries table");
    String want =
        doc.substring(0, begin + BEGIN.length()) + table(Libraries.bundled()) + doc.substring(end);
    if (Boolean.getBoolean("kcr.writeDocs") && !want.equals(doc)) {
      Files.writeString(DOC, want, StandardCharsets.UTF_8);
      doc = want;
    }
    assertEquals(want, doc, DOC + " is out of date: run scripts/lock-libraries");
  }

  static String table(Libraries libraries) {
    StringBuilder b = new StringBuilder();
    List<String> standardOnly = new ArrayList<>();
    for (Language l : Language.values()) {
      String title = LanguageCatalog.displayName(l) + " (`" + l.code() + "`)";
      List<Libraries.Library> libs = libraries.of(l);
      if (libs.isEmpty()) {
        standardOnly.add(title);
        continue;
      }
      b.append("\n### ").append(title).append("\n\n");
      if (l == Language.TS && libs.equals(libraries.of(Language.JS))) {
        b.append("The packages of JavaScript, with their types: `import ... from \"NAME\"`.\n");
        continue;
      }
      b.append("| Package | Version | Used as |\n| --- | --- | --- |\n");
      for (Libraries.Library lib : libs) {
        b.append("| ")
            .append(lib.name())
            .append(" | ")
            .append(lib.version() != null ? lib.version() : "Debian's")
            .append(" | ")
            .append(lib.use().stream().map(u -> usedAs(l, u)).collect(Collectors.joining(", ")))
            .append(" |\n");
      }
    }
    b.append("\nThe standard library only: ").append(String.join(", ", standardOnly)).append(".\n");
    return b.toString();
  }

  private static String usedAs(Language l, String name) {
    return switch (l) {
      case PY -> "`import " + name + "`";
      case JS -> "`require(\"" + name + "\")`, `import ... from \"" + name + "\"`";
      case R -> "`library(" + name + ")`";
      case CPP -> "`#include <" + name + ">`";
      default -> "`" + name + "`";
    };
  }
}
