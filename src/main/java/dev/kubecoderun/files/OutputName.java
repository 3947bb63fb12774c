package dev.kubecoderun.files;

/**
 * The name a generated file is returned and stored under: its path relative to /mnt/data, as the
 * code wrote it (spaces, accents, any script, {@code + % # ? & ' "} all kept), except characters a
 * client would show or send back wrongly, each replaced by {@code _}: control characters (newline,
 * tab, DEL, C1), the Unicode line and paragraph separators, the bidirectional controls that make a
 * name display as another (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F), and the backslash (an
 * /exec file name must not contain one). Bytes that are not UTF-8 already arrive as U+FFFD from the
 * runner. The result is a name /exec accepts back in {@code files[].name}, and it places the file
 * at that same path, when it is {@link #whyUnusable usable}.
 */
public final class OutputName {
  private OutputName() {}

  public static String of(String sandboxPath) {
    StringBuilder sb = null;
    for (int i = 0; i < sandboxPath.length(); i++) {
      char c = sandboxPath.charAt(i);
      if (replaced(c)) {
        if (sb == null) {
          sb = new StringBuilder(sandboxPath.length()).append(sandboxPath, 0, i);
        }
        sb.append('_');
      } else if (sb != null) {
        sb.append(c);
      }
    }
    return sb == null ? sandboxPath : sb.toString();
  }

  /**
   * Why a name {@link #of} gave cannot be stored, else null: a stored name is sent back as an input
   * name on every later run (LibreChat re-sends every file it tracks), so one that breaks the
   * limits of input names ({@link RelativePaths#isClean}) would break every later run of the
   * conversation: a 400 when sent with its name, a sandbox failure when the sandbox cannot place
   * it. A name that is not UTF-8 grows as it becomes text (each invalid byte is U+FFFD, 3 bytes),
   * so a name the file system held can be over the limits as text.
   */
  public static String whyUnusable(String name) {
    if (RelativePaths.isClean(name)) {
      return null;
    }
    if (!RelativePaths.segmentsFit(name)) {
      return "its name has a folder or file name over "
          + RelativePaths.MAX_SEGMENT_BYTES
          + " bytes as text (a byte that is not UTF-8 is U+FFFD, 3 bytes): it could not be sent"
          + " back as an input";
    }
    if (RelativePaths.depth(name) > RelativePaths.MAX_DEPTH) {
      return "its path is more than "
          + RelativePaths.MAX_DEPTH
          + " levels deep: it could not be sent back as an input";
    }
    if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length
        > RelativePaths.MAX_PATH_BYTES) {
      return "its path is over "
          + RelativePaths.MAX_PATH_BYTES
          + " bytes as text: it could not be sent back as an input";
    }
    return "its name is not a clean relative path: it could not be sent back as an input";
  }

  private static boolean replaced(char c) {
    return Character.isISOControl(c)
        || c == '\\'
        || c == '\u2028'
        || c == '\u2029'
        || (c >= '\u202A' && c <= '\u202E')
        || (c >= '\u2066' && c <= '\u2069')
        || c == '\u200E'
        || c == '\u200F';
  }
}
