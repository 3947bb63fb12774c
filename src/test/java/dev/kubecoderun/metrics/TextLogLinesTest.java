package dev.kubecoderun.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import org.junit.jupiter.api.Test;

/**
 * LOG_FORMAT=text writes one line per record, whatever a client put in the values: a path decoded
 * from %0A must not forge a log line of its own.
 */
class TextLogLinesTest {
  private static final String NL = System.lineSeparator();

  private static String text(String message, Map<String, Object> fields, Throwable thrown) {
    LogRecord r = new LogRecord(Level.INFO, message);
    r.setLoggerName("dev.kubecoderun.access");
    r.setParameters(new Object[] {fields});
    r.setThrown(thrown);
    return new JsonLogFormatter(false).format(r);
  }

  private static void assertOneLine(String line) {
    assertTrue(line.endsWith(NL), line);
    String body = line.substring(0, line.length() - NL.length());
    assertTrue(
        body.chars()
            .noneMatch(c -> c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029),
        body);
  }

  @Test
  void aPathWithLineBreaksStaysOnItsLine() {
    Map<String, Object> fields = new LinkedHashMap<>();
    fields.put("method", "GET");
    fields.put("path", "/x\n2026-12-01T00:00:00Z INFO forged\r\u0085\u2028\u2029\u001b[31m\t\\n");
    fields.put("status", 404);
    String line = text("request", fields, null);
    assertOneLine(line);
    assertTrue(
        line.contains(
            "GET /x\\n2026-12-01T00:00:00Z INFO forged\\r\\u0085\\u2028\\u2029\\u001b[31m\\t\\\\n"
                + " 404"),
        line);
  }

  @Test
  void messagesAndStackTracesStayOnOneLine() {
    String line =
        text(
            "a message\nINFO forged",
            Map.of(),
            new IllegalStateException("bad input /x\nINFO forged"));
    assertOneLine(line);
    assertTrue(line.contains("a message\\nINFO forged"), line);
    assertTrue(line.contains("bad input /x\\nINFO forged\\n\\tat "), line);
  }

  @Test
  void plainValuesAreWrittenAsTheyAre() {
    Map<String, Object> fields = new LinkedHashMap<>();
    fields.put("path", "/files/abc déjà");
    String line = text("request", fields, null);
    assertTrue(line.endsWith(" INFO dev.kubecoderun.access request /files/abc déjà" + NL), line);
    assertEquals(1, line.split(NL, -1).length - 1);
  }
}
