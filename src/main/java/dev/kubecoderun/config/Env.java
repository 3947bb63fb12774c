package dev.kubecoderun.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Typed reads of environment variables; a bad value fails start-up with a message naming it. */
final class Env {
  private final Map<String, String> vars;

  Env(Map<String, String> vars) {
    this.vars = vars;
  }

  String string(String name, String dflt) {
    String v = vars.get(name);
    return v == null || v.isBlank() ? dflt : v.trim();
  }

  /** Whether the variable is there at all, even empty (for lists where empty means none). */
  boolean present(String name) {
    return vars.containsKey(name);
  }

  /** The first of several names that is set (newer name first), else the default. */
  String firstOf(String dflt, String... names) {
    for (String n : names) {
      String v = vars.get(n);
      if (v != null && !v.isBlank()) {
        return v.trim();
      }
    }
    return dflt;
  }

  int integer(String name, int dflt, int min, int max) {
    String v = vars.get(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v.trim());
      if (n < min || n > max) {
        throw new ConfigException(name + "=" + v + " is out of range [" + min + ", " + max + "]");
      }
      return n;
    } catch (NumberFormatException e) {
      throw new ConfigException(name + "=" + v + " is not a whole number");
    }
  }

  double decimal(String name, double dflt, double min, double max) {
    String v = vars.get(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    try {
      double n = Double.parseDouble(v.trim());
      if (!(n >= min && n <= max)) {
        throw new ConfigException(name + "=" + v + " is out of range [" + min + ", " + max + "]");
      }
      return n;
    } catch (NumberFormatException e) {
      throw new ConfigException(name + "=" + v + " is not a number");
    }
  }

  boolean bool(String name, boolean dflt) {
    String v = vars.get(name);
    if (v == null || v.isBlank()) {
      return dflt;
    }
    return switch (v.trim().toLowerCase(Locale.ROOT)) {
      case "1", "true", "yes", "on" -> true;
      case "0", "false", "no", "off" -> false;
      default -> throw new ConfigException(name + "=" + v + " is not a boolean (true/false)");
    };
  }

  /** One of {@code type}'s values, named in any case; else the error lists them all. */
  <E extends Enum<E>> E choice(String name, E dflt, Class<E> type) {
    String v = string(name, dflt.name());
    try {
      return Enum.valueOf(type, v.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      List<String> names =
          java.util.Arrays.stream(type.getEnumConstants())
              .map(c -> c.name().toLowerCase(Locale.ROOT))
              .toList();
      throw new ConfigException(
          name
              + "="
              + v
              + " must be "
              + String.join(", ", names.subList(0, names.size() - 1))
              + " or "
              + names.getLast());
    }
  }

  Duration seconds(String name, int dflt, int min, int max) {
    return Duration.ofSeconds(integer(name, dflt, min, max));
  }

  /** Every variable starting with {@code prefix}, keyed by the rest of its name. */
  Map<String, String> withPrefix(String prefix) {
    Map<String, String> out = new java.util.TreeMap<>();
    vars.forEach(
        (k, v) -> {
          if (k.startsWith(prefix) && v != null && !v.isBlank()) {
            out.put(k.substring(prefix.length()), v.trim());
          }
        });
    return out;
  }

  List<String> list(String name) {
    List<String> out = new ArrayList<>();
    String v = vars.get(name);
    if (v == null) {
      return out;
    }
    for (String part : v.split(",")) {
      if (!part.isBlank()) {
        out.add(part.trim());
      }
    }
    return out;
  }
}
