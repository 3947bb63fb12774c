package dev.kubecoderun.api;

/** Names of files inside /mnt/data: relative, sub-folders allowed, never outside. */
final class SandboxPaths {
  private SandboxPaths() {}

  /** Returns the normalised relative path, or throws a 400 naming the field. */
  static String checkRelative(String name, String field) {
    String n = name.startsWith("/mnt/data/") ? name.substring("/mnt/data/".length()) : name;
    if (n.isEmpty() || n.startsWith("/") || n.contains("\\") || n.indexOf('\0') >= 0) {
      throw bad(name, field);
    }
    StringBuilder out = new StringBuilder();
    for (String part : n.split("/", -1)) {
      if (part.isEmpty() || part.equals(".")) {
        continue;
      }
      if (part.equals("..")) {
        throw bad(name, field);
      }
      if (!out.isEmpty()) {
        out.append('/');
      }
      out.append(part);
    }
    if (out.isEmpty()) {
      throw bad(name, field);
    }
    return out.toString();
  }

  private static ApiError bad(String name, String field) {
    return ApiError.badRequest(
        "File name '" + name + "' must be a relative path inside /mnt/data", field, "invalid_path");
  }
}
