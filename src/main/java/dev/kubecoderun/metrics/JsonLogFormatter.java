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

/** One JSON object per log line, carrying the request id of the request being served. */
public final class JsonLogFormatter extends Formatter {
  // Held here: java.util.logging keeps loggers weakly, and a collected one forgets its level.
  private static final Logger SERVICE = Logger.getLogger("dev.kubecoderun");
  private static final Logger HELIDON = Logger.getLogger("io.helidon");

  private final boolean json;

  private JsonLogFormatter(boolean json) {
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
    return line.values().stream().map(String::valueOf).reduce((a, b) -> a + " " + b).orElse("")
        + System.lineSeparator();
  }
}
