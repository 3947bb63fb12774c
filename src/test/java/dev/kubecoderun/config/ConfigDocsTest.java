package dev.kubecoderun.config;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kubecoderun.language.Language;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * docs/configuration.md names every environment variable the configuration reads, and every
 * variable its tables list is read.
 */
class ConfigDocsTest {
  private static final Path DOCS = Path.of("docs/configuration.md");
  private static final Pattern NAME = Pattern.compile("`(_?[A-Z][A-Z0-9_]*(?:<[A-Z]+>)?)`");

  /** The environment, remembering every name the configuration asks it for. */
  private static final class Recording extends HashMap<String, String> {
    final Set<String> asked = new TreeSet<>();

    Recording(java.util.Map<String, String> vars) {
      super(vars);
    }

    @Override
    public String get(Object key) {
      asked.add((String) key);
      return super.get(key);
    }

    @Override
    public boolean containsKey(Object key) {
      asked.add((String) key);
      return super.containsKey(key);
    }
  }

  /**
   * Every name read with authentication off and a JWT provider (so the JWT settings are read too);
   * the {@code RUNNER_TOOL_} prefix is read as a whole.
   */
  private static Set<String> read() {
    Recording env =
        new Recording(
            java.util.Map.of("AUTH_ENABLED", "false", "CODEAPI_AUTH_PROVIDER", "librechat-jwt"));
    Config.from(env);
    Set<String> names = new TreeSet<>(env.asked);
    names.add("RUNNER_TOOL_<NAME>");
    return names;
  }

  /** A per-language name stands for all: {@code LANG_IMAGE_PY} is {@code LANG_IMAGE_<CODE>}. */
  private static String generic(String name) {
    for (Language l : Language.values()) {
      String code = "_" + l.code().toUpperCase(Locale.ROOT);
      if (name.endsWith(code) && !name.startsWith("POD_POOL_")) {
        return name.substring(0, name.length() - code.length()) + "_<CODE>";
      }
    }
    return name;
  }

  @Test
  void everyVariableReadIsDocumented() throws IOException {
    String docs = Files.readString(DOCS);
    Set<String> documented = new TreeSet<>();
    Matcher m = NAME.matcher(docs);
    while (m.find()) {
      documented.add(m.group(1));
    }
    List<String> missing =
        read().stream()
            .filter(n -> !documented.contains(n) && !documented.contains(generic(n)))
            // POD_POOL_<LANG>: the two with a pool by default by name, the others as `_GO`, ...
            .filter(
                n ->
                    !(n.startsWith("POD_POOL_")
                        && documented.contains(n.substring("POD_POOL".length()))))
            .toList();
    assertEquals(List.of(), missing, "read but not in " + DOCS);
  }

  @Test
  void everyVariableOfTheTablesIsRead() throws IOException {
    Set<String> read = read();
    Set<String> generic = new TreeSet<>();
    read.forEach(n -> generic.add(generic(n)));
    List<String> unread = new java.util.ArrayList<>();
    for (String line : Files.readAllLines(DOCS)) {
      if (!line.startsWith("| `")) {
        continue;
      }
      Matcher m = NAME.matcher(line.substring(0, line.indexOf('|', 1)));
      while (m.find()) {
        String n = m.group(1);
        // `_GO`: short for POD_POOL_GO in a list of them.
        if (!n.startsWith("_") && !read.contains(n) && !generic.contains(n)) {
          unread.add(n);
        }
      }
    }
    assertEquals(List.of(), unread, "in the tables of " + DOCS + " but never read");
  }
}
