package dev.kubecoderun.language;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What user code can use beyond each language's standard library: the lists under {@code
 * languages/}, which the sandbox images and the local install both install, bundled in the jar.
 * Python and npm versions are those of the lock files; Debian packages have no version here (the
 * machine or image that installs them decides).
 */
public final class Libraries {
  /** Where a library comes from, which says how its version is found. */
  public enum Source {
    PYPI,
    NPM,
    DEBIAN
  }

  /**
   * One library.
   *
   * @param name the package: scikit-learn, lodash, r-cran-ggplot2, php-xml
   * @param version the locked version, or null (Debian packages)
   * @param use the names user code uses it by: Python modules, npm packages, R packages, PHP
   *     extensions, C++ headers, commands
   */
  public record Library(String name, String version, List<String> use, Source source) {
    public Library withVersion(String v) {
      return new Library(name, v, use, source);
    }
  }

  /** The files read, relative to {@code languages/}. */
  static final String PY_REQUIREMENTS = "python/requirements.txt";

  static final String PY_LOCK = "python/requirements.lock";
  static final String NPM_PACKAGE = "node/package.json";
  static final String NPM_LOCK = "node/package-lock.json";

  /** The Debian package lists of the languages whose libraries are Debian packages. */
  static final Map<Language, String> DEBIAN_LISTS =
      Map.of(
          Language.R, "r/packages.txt",
          Language.PHP, "php/packages.txt",
          Language.CPP, "c-cpp/packages.txt",
          Language.BASH, "bash/packages.txt");

  /** Names end up in generated check programs: nothing that could need quoting. */
  private static final Pattern SAFE_NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._/+@-]*");

  private static final Pattern LOCK_LINE =
      Pattern.compile("^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\\s;\\\\]+)");
  private static final Pattern IMPORT_NOTE = Pattern.compile("#\\s*import:\\s*(.+)$");

  private final Map<Language, List<Library>> byLanguage;

  private Libraries(Map<Language, List<Library>> byLanguage) {
    this.byLanguage = byLanguage;
  }

  /** The lists bundled in the jar (the build copies {@code languages/} into it). */
  public static Libraries bundled() {
    return read(
        file -> {
          try (InputStream in =
              Libraries.class.getClassLoader().getResourceAsStream("languages/" + file)) {
            if (in == null) {
              throw new IllegalStateException(
                  "languages/" + file + " is not in the jar: the build must bundle languages/");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
  }

  /**
   * @param files the text of a file, by its path under {@code languages/}
   */
  public static Libraries read(Function<String, String> files) {
    Map<Language, List<Library>> by = new EnumMap<>(Language.class);
    by.put(Language.PY, python(files.apply(PY_REQUIREMENTS), files.apply(PY_LOCK)));
    List<Library> npm = npm(files.apply(NPM_PACKAGE), files.apply(NPM_LOCK));
    by.put(Language.JS, npm);
    by.put(Language.TS, npm);
    DEBIAN_LISTS.forEach((lang, file) -> by.put(lang, debian(file, files.apply(file))));
    return new Libraries(by);
  }

  /**
   * The libraries of a language, in the order of its list; empty for standard-library-only ones.
   */
  public List<Library> of(Language language) {
    return byLanguage.getOrDefault(language, List.of());
  }

  /** PEP 503: PyYAML, pyyaml and py_yaml are the same distribution. */
  public static String normalizePython(String name) {
    return name.toLowerCase(Locale.ROOT).replaceAll("[-_.]+", "-");
  }

  /**
   * requirements.txt gives the libraries (one requirement a line, {@code # import: NAME} when the
   * module is not named after the package), the lock their versions.
   */
  static List<Library> python(String requirements, String lock) {
    Map<String, String> locked = new HashMap<>();
    for (String line : lock.split("\n")) {
      Matcher m = LOCK_LINE.matcher(line);
      if (m.find()) {
        locked.put(normalizePython(m.group(1)), m.group(2));
      }
    }
    List<Library> out = new ArrayList<>();
    for (String line : requirements.split("\n")) {
      String code = line.replaceFirst("#.*", "").strip();
      if (code.isEmpty()) {
        continue;
      }
      Matcher nameMatch = Pattern.compile("^[A-Za-z0-9][A-Za-z0-9._-]*").matcher(code);
      if (!nameMatch.find()) {
        throw new IllegalStateException("languages/" + PY_REQUIREMENTS + ": cannot read " + line);
      }
      String name = nameMatch.group();
      String version = locked.get(normalizePython(name));
      if (version == null) {
        throw new IllegalStateException(
            "languages/" + PY_LOCK + " has no " + name + ": run scripts/lock-libraries");
      }
      Matcher note = IMPORT_NOTE.matcher(line);
      List<String> use =
          note.find()
              ? Arrays.asList(note.group(1).strip().split("\\s+"))
              : List.of(name.toLowerCase(Locale.ROOT).replace('-', '_'));
      out.add(library(PY_REQUIREMENTS, name, version, use, Source.PYPI));
    }
    return List.copyOf(out);
  }

  /**
   * package.json's dependencies, with their versions from the lock; the compiler and type-only
   * packages (@types/...) are not libraries to require.
   */
  static List<Library> npm(String packageJson, String lockJson) {
    ObjectMapper mapper = new ObjectMapper();
    try {
      JsonNode deps = mapper.readTree(packageJson).path("dependencies");
      JsonNode lock = mapper.readTree(lockJson).path("packages");
      if (!deps.equals(lock.path("").path("dependencies"))) {
        throw new IllegalStateException(
            "languages/"
                + NPM_LOCK
                + " does not match "
                + NPM_PACKAGE
                + ": run scripts/lock-libraries");
      }
      List<Library> out = new ArrayList<>();
      for (Map.Entry<String, JsonNode> dep : deps.properties()) {
        String name = dep.getKey();
        if (name.equals("typescript") || name.startsWith("@types/")) {
          continue;
        }
        String version = lock.path("node_modules/" + name).path("version").asText(null);
        if (version == null) {
          throw new IllegalStateException(
              "languages/" + NPM_LOCK + " has no " + name + ": run scripts/lock-libraries");
        }
        out.add(library(NPM_PACKAGE, name, version, List.of(name), Source.NPM));
      }
      return List.copyOf(out);
    } catch (IOException e) {
      throw new IllegalStateException("languages/node: " + e.getMessage(), e);
    }
  }

  /** One Debian package a line, then the names user code uses it by. */
  static List<Library> debian(String file, String text) {
    List<Library> out = new ArrayList<>();
    for (String line : text.split("\n")) {
      String[] words = line.strip().split("\\s+");
      if (words[0].isEmpty() || words[0].startsWith("#")) {
        continue;
      }
      if (words.length < 2) {
        throw new IllegalStateException(
            "languages/" + file + ": " + words[0] + " names no library (package, then names)");
      }
      out.add(
          library(
              file,
              words[0],
              null,
              List.of(Arrays.copyOfRange(words, 1, words.length)),
              Source.DEBIAN));
    }
    return List.copyOf(out);
  }

  private static Library library(
      String file, String name, String version, List<String> use, Source source) {
    for (String n : use) {
      if (!SAFE_NAME.matcher(n).matches()) {
        throw new IllegalStateException("languages/" + file + ": unexpected name '" + n + "'");
      }
    }
    return new Library(name, version, List.copyOf(use), source);
  }
}
