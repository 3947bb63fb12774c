package dev.kubecoderun.execution;

/** Turns a runner's stdout/stderr into the text /exec returns. */
final class OutputText {
  private OutputText() {}

  /**
   * Cuts the text at {@code capBytes} characters, drops control characters other than tab, newline
   * and carriage return (they break clients that render the text), notes truncation, and ends
   * non-empty stdout with a newline as LibreChat expects.
   */
  static String clean(String raw, boolean truncated, int capBytes, boolean endWithNewline) {
    String s = raw == null ? "" : raw;
    // The runner cuts its output at capBytes; one that sends more is not ours (on Kubernetes user
    // code could stand in for it): cut here too. More characters than capBytes is more than
    // capBytes of UTF-8 (a character is at least one byte), so the runner's own output never is.
    if (s.length() > capBytes) {
      int end =
          capBytes > 0 && Character.isHighSurrogate(s.charAt(capBytes - 1))
              ? capBytes - 1
              : capBytes;
      s = s.substring(0, end);
      truncated = true;
    }
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
