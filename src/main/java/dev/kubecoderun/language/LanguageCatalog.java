package dev.kubecoderun.language;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Each language with its version and its libraries, for clients and for the model's tool
 * description. The libraries are those of the lists ({@link Libraries}); their versions, and the
 * language's, are what is installed where the backend can tell (the local one, found once on first
 * use), else the locked ones.
 */
public final class LanguageCatalog {
  /**
   * What a backend found installed.
   *
   * @param languages the version of each language's toolchain it found
   * @param libraries per source, the installed version of each package it looked at (Python names
   *     normalised); a source that is present here and lacks a package means: not installed
   */
  public record Installed(
      Map<Language, String> languages, Map<Libraries.Source, Map<String, String>> libraries) {
    /** A backend that cannot tell (the images run elsewhere). */
    public static final Installed UNKNOWN = new Installed(Map.of(), Map.of());
  }

  /**
   * @param version the toolchain's version, or null when unknown
   */
  public record Entry(
      Language language, String name, String version, List<Libraries.Library> libraries) {}

  private final Libraries libraries;
  private final Supplier<Installed> installed;
  private List<Entry> entries;

  public LanguageCatalog(Libraries libraries, Supplier<Installed> installed) {
    this.libraries = libraries;
    this.installed = installed;
  }

  /** Every language, in the order of {@link Language}. */
  public synchronized List<Entry> entries() {
    if (entries == null) {
      entries = build(installed.get());
    }
    return entries;
  }

  private List<Entry> build(Installed found) {
    List<Entry> out = new ArrayList<>();
    for (Language l : Language.values()) {
      List<Libraries.Library> libs = new ArrayList<>();
      for (Libraries.Library lib : libraries.of(l)) {
        Map<String, String> versions = found.libraries().get(lib.source());
        if (versions != null) {
          String key =
              lib.source() == Libraries.Source.PYPI
                  ? Libraries.normalizePython(lib.name())
                  : lib.name();
          lib = lib.withVersion(versions.get(key));
        }
        libs.add(lib);
      }
      out.add(new Entry(l, displayName(l), found.languages().get(l), List.copyOf(libs)));
    }
    return List.copyOf(out);
  }

  public static String displayName(Language l) {
    return switch (l) {
      case PY -> "Python";
      case JS -> "JavaScript";
      case TS -> "TypeScript";
      case GO -> "Go";
      case JAVA -> "Java";
      case C -> "C";
      case CPP -> "C++";
      case PHP -> "PHP";
      case RS -> "Rust";
      case R -> "R";
      case F90 -> "Fortran";
      case D -> "D";
      case BASH -> "Bash";
    };
  }
}
