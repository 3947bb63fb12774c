package dev.kubecoderun;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.metrics.JsonLogFormatter;
import dev.kubecoderun.metrics.StopLastLogManager;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Entry point: configuration, logging, start, and a clean stop on SIGTERM/SIGINT. A start that
 * fails ends with one line on stderr saying why (the stack trace only at LOG_LEVEL=DEBUG).
 */
public final class Main {
  static {
    // Before any logger exists: the stop's own log lines must outlive the JVM's logging hook.
    // System.setProperty("java.util.logging.manager", StopLastLogManager.class.getName());
  }

  private static final Logger LOG = Logger.getLogger(Main.class.getName());

  private Main() {}

  public static void main(String[] args) throws InterruptedException {
    Config config;
    try {
      config = Config.fromEnvironment();
    } catch (ConfigException e) {
      System.err.println("configuration error: " + e.getMessage());
      System.exit(2);
      return;
    }
    JsonLogFormatter.install(config.logging());
    Application app;
    try {
      app = Application.start(config);
    } catch (ConfigException e) {
      // A setting that only fails when used (a TLS file, a CA bundle): the message names it.
      LOG.log(Level.FINE, "configuration error", e);
      System.err.println("configuration error: " + e.getMessage());
      System.exit(2);
      return;
    } catch (RuntimeException e) {
      LOG.log(Level.FINE, "cannot start", e);
      System.err.println("cannot start: " + (e.getMessage() != null ? e.getMessage() : e));
      System.exit(1);
      return;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  app.close();
                  StopLastLogManager.closeHandlers();
                  stopped.countDown();
                },
                "shutdown"));
    stopped.await();
  }
}
