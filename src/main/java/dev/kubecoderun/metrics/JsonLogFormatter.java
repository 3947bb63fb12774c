package dev.kubecoderun.metrics;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.config.Config;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.ConsoleHandler;
import java.util.logging.Formatter;
import java.util.logging.Level;
import java.util.logging.LogManager;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * One JSON object per log line (LOG_FORMAT=json), or the same values separated by spaces (text),
 * carrying the request id of the request being served. Either way one record is one line: what a
 * client sent (a path, a header) cannot start a line of its own.
 */
public final class JsonLogFormatter extends Formatter {
  // Held here: java.util.logging keeps loggers weakly, and a collected one forgets its level.
  private static final Logger SERVICE = Logger.getLogger("dev.kubecoderun");
  private static final Logger HELIDON = Logger.getLogger("io.helidon");

  private final boolean json;

  JsonLogFormatter(boolean json) {
    this.json = json;
  }

  public static void install(Config.Logging logging) {
    StopLastLogManager.reset(LogManager.getLogManager());
    Level level = logging.level();
    // The service's own loggers at LOG_LEVEL; libraries no chattier than INFO (DEBUG would
    // otherwise print every CA certificate the JDK loads), and Helidon no chattier than WARNING.
    Logger root = Logger.getLogger("");
    root.setLevel(moreSevere(level, Level.INFO));
    SERVICE.setLevel(level);
    HELIDON.setLevel(moreSevere(level, Level.WARNING));
    ConsoleHandler handler = new ConsoleHandler();
    handler.setLevel(level);
    handler.setFormatter(new JsonLogFormatter(logging.json()));
    root.addHandler(handler);
  }

  private static Level moreSevere(Level a, Level b) {
    return a.intValue() >= b.intValue() ? a : b;
  }

  @Override
  public String format(LogRecord r) {
    Map<String, Object> line = new LinkedHashMap<>();
    line.put("ts", Instant.ofEpochMilli(r.getMillis()).toString());
    line.put("level", r.getLevel().getName());
    line.put("logger", r.getLoggerName());
    line.put("msg", formatMessage(r));
    String requestId = LogContext.requestId();
    if (requestId != null) {
      line.put("request_id", requestId);
    }
    Object[] params = r.getParameters();
    if (params != null && params.length == 1 && params[0] instanceof Map<?, ?> fields) {
      fields.forEach((k, v) -> line.put(String.valueOf(k), v));
    }
    if (r.getThrown() != null) {
      StringWriter sw = new StringWriter();
      r.getThrown().printStackTrace(new PrintWriter(sw));
      line.put("error", sw.toString());
    }
    if (json) {
      return Json.writeString(line) + System.lineSeparator();
    }
    StringBuilder text = new StringBuilder();
    for (Object value : line.values()) {
      if (!text.isEmpty()) {
        text.append(' ');
      }
      escape(String.valueOf(value), text);
    }
    return text.append(System.lineSeparator()).toString();
  }

  /**
   * Appends {@code s} with its line breaks and other control characters as escapes (a newline as
   * backslash-n, U+0085 as backslash-u0085): a decoded path with %0A would otherwise write a forged
   * log line (JSON escapes them itself). C0 and C1 controls, DEL, and U+2028/2029 (line breaks to
   * some readers); the backslash too, so that an escape in the log always means the character was
   * there. A stack trace becomes one line, its lines separated by backslash-n.
   */
  static void escape(String s, StringBuilder out) {
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\\' -> out.append("\\\\");
        case '\n' -> out.append("\\n");
        case '\r' -> out.append("\\r");
        case '\t' -> out.append("\\t");
        default -> {
          if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == '\u2028' || c == '\u2029') {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
        }
      }
    }
  }
}
