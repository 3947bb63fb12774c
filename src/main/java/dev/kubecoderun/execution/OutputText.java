package dev.kubecoderun.execution;

/** Turns a runner's stdout/stderr into the text /exec returns. */
final class OutputText {
  private OutputText() {}

  /**
   * Drops control characters other than tab, newline and carriage return (they break clients that
   * render the text), notes truncation, and ends non-empty stdout with a newline as LibreChat
   * expects.
   */
  static String clean(String raw, boolean truncated, int capBytes, boolean endWithNewline) {
    String s = raw == null ? "" : raw;
    StringBuilder sb = new StringBuilder(s.length() + 64);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (c >= 0x20 && c != 0x7f || c == '\t' || c == '\n' || c == '\r') {
        sb.append(c);
      }
    }
    if (truncated) {
      if (sb.length() > 0 && sb.charAt(sb.length() - 1) != '\n') {
        sb.append('\n');
      }
      sb.append("[output truncated: more than ").append(capBytes).append(" bytes]");
    }
    if (endWithNewline && sb.length() > 0 && sb.charAt(sb.length() - 1) != '\n') {
      sb.append('\n');
    }
    return sb.toString();
  }
}
