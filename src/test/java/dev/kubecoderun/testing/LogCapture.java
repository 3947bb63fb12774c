package dev.kubecoderun.testing;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/**
 * What a logger (and the loggers under it) logs while a test runs: {@code try (LogCapture log =
 * LogCapture.of(Foo.class)) {...}}. Closing it removes its handler.
 */
public final class LogCapture extends Handler implements AutoCloseable {
  private final Logger logger;
  private final List<LogRecord> records = new CopyOnWriteArrayList<>();

  private LogCapture(Logger logger) {
    this.logger = logger;
    logger.addHandler(this);
  }

  /** Captures {@code logger} from now on. */
  public static LogCapture of(Logger logger) {
    return new LogCapture(logger);
  }

  /** Captures the logger named after {@code type}, as the classes name theirs. */
  public static LogCapture of(Class<?> type) {
    return of(Logger.getLogger(type.getName()));
  }

  /** The records captured so far, oldest first. */
  public List<LogRecord> records() {
    return List.copyOf(records);
  }

  /** Forgets what was captured so far. */
  public void clear() {
    records.clear();
  }

  @Override
  public void publish(LogRecord r) {
    records.add(r);
  }

  @Override
  public void flush() {}

  @Override
  public void close() {
    logger.removeHandler(this);
  }
}
