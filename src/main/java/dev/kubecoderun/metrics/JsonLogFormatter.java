package dev.kubecoderun.metrics;

import dev.kubecoderun.api.Json;
import dev.kubecoderun.api.LogContext;
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

/** One JSON object per log line, carrying the request id of the request being served. */
public final class JsonLogFormatter extends Formatter {
  private final boolean json;

  private JsonLogFormatter(boolean json) {
    this.json = json;
  }

  public static void install(Config.Logging logging) {
    LogManager.getLogManager().reset();
    Logger root = Logger.getLogger("");
    Level level = Level.parse(logging.level().equals("WARN") ? "WARNING" : logging.level());
    root.setLevel(level);
    ConsoleHandler handler = new ConsoleHandler();
    handler.setLevel(level);
    handler.setFormatter(new JsonLogFormatter(logging.json()));
    root.addHandler(handler);
    // Helidon is chatty at INFO about its own features.
    Logger.getLogger("io.helidon")
        .setLevel(level.intValue() < Level.WARNING.intValue() ? Level.WARNING : level);
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
    return line.values().stream().map(String::valueOf).reduce((a, b) -> a + " " + b).orElse("")
        + System.lineSeparator();
  }
}
