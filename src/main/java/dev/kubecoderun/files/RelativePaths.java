package dev.kubecoderun.files;

import java.nio.charset.StandardCharsets;

/**
 * Names of files inside /mnt/data: relative, sub-folders allowed, never outside. The one rule both
 * an /exec {@code files[].name} and an uploaded file's path go through.
 */
public final class RelativePaths {
  /** A path segment's most bytes (Linux's NAME_MAX). */
  public static final int MAX_SEGMENT_BYTES = 255;

  /** An uploaded path's most bytes, all segments and separators (UTF-8). */
  public static final int MAX_PATH_BYTES = 1024;

  /** An uploaded path's most segments, the file's own included. */
  public static final int MAX_DEPTH = 32;

  /** What {@link #normalize} drops at the start of a name. */
  public static final String SANDBOX_PREFIX = "/mnt/data/";

  private RelativePaths() {}

  /**
   * The normalised relative path: a leading {@code /mnt/data/} and empty or {@code .} segments
   * dropped; null when it is empty, absolute, has a {@code ..} segment, a backslash or a NUL.
   */
  public static String normalize(String name) {
    if (name == null) {
      return null;
    }
    String n = name.startsWith(SANDBOX_PREFIX) ? name.substring(SANDBOX_PREFIX.length()) : name;
    if (n.isEmpty() || n.startsWith("/") || n.contains("\\") || n.indexOf('\0') >= 0) {
      return null;
    }
    StringBuilder out = new StringBuilder();
    for (String part : n.split("/", -1)) {
      if (part.isEmpty() || part.equals(".")) {
        continue;
      }
      if (part.equals("..")) {
        return null;
      }
      if (!out.isEmpty()) {
        out.append('/');
      }
      out.append(part);
    }
    return out.isEmpty() ? null : out.toString();
  }

  /**
   * True when {@code name} is, exactly as written, a path {@link #normalize} keeps unchanged (no
   * {@code /mnt/data/} prefix, no empty, {@code .} or {@code ..} segment, not absolute), with none
   * of the characters {@link OutputName} replaces (control characters, backslash, line separators,
   * bidirectional controls), at most {@link #MAX_DEPTH} segments of at most {@link
   * #MAX_SEGMENT_BYTES} bytes each, {@link #MAX_PATH_BYTES} in all.
   */
  public static boolean isClean(String name) {
    if (name == null || !name.equals(normalize(name)) || !OutputName.of(name).equals(name)) {
      return false;
    }
    if (name.getBytes(StandardCharsets.UTF_8).length > MAX_PATH_BYTES) {
      return false;
    }
    return depth(name) <= MAX_DEPTH && segmentsFit(name);
  }

  /** How many segments {@code path} has (its separators and one), counted without splitting it. */
  public static int depth(String path) {
    int n = 1;
    for (int i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) {
      n++;
    }
    return n;
  }

  /** True when no folder or file name of {@code path} is over {@link #MAX_SEGMENT_BYTES}. */
  public static boolean segmentsFit(String path) {
    for (String s : path.split("/", -1)) {
      if (s.getBytes(StandardCharsets.UTF_8).length > MAX_SEGMENT_BYTES) {
        return false;
      }
    }
    return true;
  }
}
