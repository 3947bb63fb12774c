package dev.kubecoderun.execution;

/** Turns a runner's stdout/stderr into the text /exec returns. */
final class OutputText {
  /**
   * Room past the cap for the runner's own notices, which it adds after the capped output (a
   * memory, process or disk limit hit; the sandbox stopped): a run that flooded stderr must still
   * say why it was killed, and a programmatic run's "Out of memory" is read from them.
   */
  static final int NOTICE_ROOM = 4096;

  private OutputText() {}

  /**
   * Cuts the text at {@code capBytes} + {@link #NOTICE_ROOM} characters, drops control characters
   * other than tab, newline and carriage return (they break clients that render the text), notes
   * truncation, and ends non-empty stdout with a newline as LibreChat expects.
   */
  static String clean(String raw, boolean truncated, int capBytes, boolean endWithNewline) {
    String s = raw == null ? "" : raw;
    // The runner cuts its output at capBytes and adds its notices after; one that sends more is not
    // ours (on Kubernetes user code could stand in for it): cut here too. More characters than
    // that is more bytes of UTF-8 (a character is at least one byte), so the runner's own never is.
    int limit = capBytes + NOTICE_ROOM;
    if (s.length() > limit) {
      int end = Character.isHighSurrogate(s.charAt(limit - 1)) ? limit - 1 : limit;
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
