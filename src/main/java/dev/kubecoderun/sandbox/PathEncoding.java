package dev.kubecoderun.sandbox;

import java.nio.charset.StandardCharsets;

/**
 * The runner's file path encoding (docs/runner-protocol.md, "Files"): every byte of the UTF-8 name
 * percent-encoded (RFC 3986, upper-case hex) except the unreserved characters and {@code /}. The
 * runner's {@code ref} of a listed file is exactly this, computed on the name's own bytes.
 */
public final class PathEncoding {
  private PathEncoding() {}

  /** A relative path, {@code /} kept as the separator. */
  public static String encodePath(String path) {
    StringBuilder sb = new StringBuilder();
    for (byte b : path.getBytes(StandardCharsets.UTF_8)) {
      int c = b & 0xff;
      if (c == '/' || isUnreserved(c)) {
        sb.append((char) c);
      } else {
        sb.append('%').append(HEX[c >> 4]).append(HEX[c & 0xf]);
      }
    }
    return sb.toString();
  }

  /** One path segment ({@code /} encoded too). */
  public static String encodeSegment(String segment) {
    return encodePath(segment).replace("/", "%2F");
  }

  /**
   * True when {@code ref} holds nothing but what {@link #encodePath} produces: unreserved
   * characters, {@code /} and {@code %XX}. A ref from the runner is checked before it goes into a
   * request line.
   */
  public static boolean isEncodedPath(String ref) {
    if (ref.isEmpty()) {
      return false;
    }
    for (int i = 0; i < ref.length(); i++) {
      char c = ref.charAt(i);
      if (c == '/' || isUnreserved(c)) {
        continue;
      }
      if (c != '%'
          || i + 2 >= ref.length()
          || Character.digit(ref.charAt(i + 1), 16) < 0
          || Character.digit(ref.charAt(i + 2), 16) < 0) {
        return false;
      }
      i += 2;
    }
    return true;
  }

  private static final char[] HEX = "0123456789ABCDEF".toCharArray();

  private static boolean isUnreserved(int c) {
    return (c >= 'A' && c <= 'Z')
        || (c >= 'a' && c <= 'z')
        || (c >= '0' && c <= '9')
        || c == '-'
        || c == '.'
        || c == '_'
        || c == '~';
  }
}
