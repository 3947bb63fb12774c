package dev.kubecoderun.language;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The languages /exec accepts, with the aliases clients send, and what differs between them for the
 * rest of the service: this is the one place that says it.
 */
public enum Language {
  PY("py", "python", "python3"),
  JS("js", "javascript", "node"),
  TS("ts", "typescript"),
  GO("go", "golang"),
  JAVA("java"),
  C("c"),
  CPP("cpp", "c++"),
  PHP("php"),
  RS("rs", "rust"),
  R("r"),
  F90("f90", "fortran"),
  D("d", "dlang"),
  BASH("bash", "sh", "shell");

  private static final Map<String, Language> BY_NAME = new HashMap<>();

  static {
    for (Language l : values()) {
      for (String n : l.names) {
        BY_NAME.put(n, l);
      }
    }
  }

  private final String[] names;

  Language(String... names) {
    this.names = names;
  }

  /** The short code used on the wire and by the runner (py, js, ...). */
  public String code() {
    return names[0];
  }

  /**
   * Whether a pool sandbox prepares the language ahead of its run: a waiting interpreter with the
   * preloaded modules (py, js) or the seeded build cache (go). The API tells the runner (--warm,
   * RUNNER_WARM) and waits for the runner's /health to say it is ready.
   */
  public boolean warm() {
    return switch (this) {
      case PY, JS, GO -> true;
      default -> false;
    };
  }

  /** Whether a run restores and captures the session's variables (Python state). */
  public boolean keepsState() {
    return this == PY;
  }

  /** The sandbox image that serves it (languages/NAME.Dockerfile); some languages share one. */
  public String image() {
    return switch (this) {
      case PY -> "python";
      case JS, TS -> "node";
      case GO -> "go";
      case JAVA -> "java";
      case C, CPP -> "c-cpp";
      case PHP -> "php";
      case RS -> "rust";
      case R -> "r";
      case F90 -> "fortran";
      case D -> "d";
      case BASH -> "bash";
    };
  }

  /** Warm sandboxes kept ready when POD_POOL_&lt;CODE&gt; is not set. */
  public int defaultPoolSize() {
    return switch (this) {
      case PY -> 3;
      case JS -> 2;
      default -> 0;
    };
  }

  public static Optional<Language> parse(String name) {
    if (name == null) {
      return Optional.empty();
    }
    return Optional.ofNullable(BY_NAME.get(name.trim().toLowerCase(Locale.ROOT)));
  }
}
