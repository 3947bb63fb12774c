package dev.kubecoderun.api;

import java.util.Optional;

/** One range of a file's bytes, as a Range header asks for it (RFC 9110 §14). */
record ByteRange(long first, long length) {

  long last() {
    return first + length - 1;
  }

  /** The Content-Range value of a 206 answer. */
  String contentRange(long size) {
    return "bytes " + first + "-" + last() + "/" + size;
  }

  /**
   * The one range that a Range header asks for in a file of {@code size} bytes, or empty to send
   * the whole file: no header, another unit, a malformed header, or several ranges (RFC 9110 lets a
   * server answer those with the whole file, which also rules out many-small-ranges abuse). Throws
   * a 416 when the range starts at or past the end of the file.
   */
  static Optional<ByteRange> parse(String header, long size) {
    if (header == null) {
      return Optional.empty();
    }
    int eq = header.indexOf('=');
    if (eq < 0 || !header.substring(0, eq).strip().equalsIgnoreCase("bytes")) {
      return Optional.empty();
    }
    String spec = header.substring(eq + 1).strip();
    int dash = spec.indexOf('-');
    if (dash < 0 || spec.indexOf(',') >= 0) {
      return Optional.empty();
    }
    String from = spec.substring(0, dash).strip();
    String to = spec.substring(dash + 1).strip();
    if (from.isEmpty()) {
      // bytes=-N: the last N bytes
      long suffix = number(to);
      if (suffix < 0) {
        return Optional.empty();
      }
      if (suffix == 0 || size == 0) {
        throw unsatisfiable(size);
      }
      long first = Math.max(0, size - suffix);
      return Optional.of(new ByteRange(first, size - first));
    }
    long first = number(from);
    long last = to.isEmpty() ? Long.MAX_VALUE : number(to);
    if (first < 0 || last < 0 || last < first) {
      return Optional.empty();
    }
    if (first >= size) {
      throw unsatisfiable(size);
    }
    last = Math.min(last, size - 1);
    return Optional.of(new ByteRange(first, last - first + 1));
  }

  /** Decimal digits as a number (too many: past any file's end), or -1 if not digits. */
  private static long number(String s) {
    if (s.isEmpty()) {
      return -1;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
    }
    return s.length() > 18 ? Long.MAX_VALUE : Long.parseLong(s);
  }

  private static ApiError unsatisfiable(long size) {
    return new ApiError(416, "Range not satisfiable: the file has " + size + " bytes")
        .header("Content-Range", "bytes */" + size);
  }
}
