package dev.kubecoderun.files;

/**
 * The name a generated file is returned and stored under: its path relative to /mnt/data, as the
 * code wrote it (spaces, accents, any script, {@code + % # ? & ' "} all kept), except characters a
 * client would show or send back wrongly, each replaced by {@code _}: control characters (newline,
 * tab, DEL, C1), the Unicode line and paragraph separators, the bidirectional controls that make a
 * name display as another (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F), and the backslash (an
 * /exec file name must not contain one). Bytes that are not UTF-8 already arrive as U+FFFD from the
 * runner. The result is a name /exec accepts back in {@code files[].name}, and it places the file
 * at that same path.
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
