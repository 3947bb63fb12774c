package dev.kubecoderun.language;

import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/** The languages /exec accepts, with the aliases clients send. */
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

  public static Optional<Language> parse(String name) {
    if (name == null) {
      return Optional.empty();
    }
    return Optional.ofNullable(BY_NAME.get(name.trim().toLowerCase(Locale.ROOT)));
  }
}
