package dev.kubecoderun;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.metrics.JsonLogFormatter;
import dev.kubecoderun.metrics.StopLastLogManager;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Entry point: configuration, logging, start, and a clean stop on SIGTERM/SIGINT. A start that
 * fails ends with one line on stderr saying why (the stack trace only at LOG_LEVEL=DEBUG).
 */
public final class Main {
  static {
    // Before any logger exists: the stop's own log lines must outlive the JVM's logging hook.
    System.setProperty("java.util.logging.manager", StopLastLogManager.class.getName());
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
    // The hook is in place before the start: a SIGTERM that comes while (or just after) the API
    // starts waits for the start to end, then stops the API cleanly.
    AtomicReference<Application> running = new AtomicReference<>();
    CountDownLatch startEnded = new CountDownLatch(1);
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  try {
                    startEnded.await();
                  } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                  }
                  Application app = running.get();
                  if (app != null) {
                    app.close();
                  }
                  StopLastLogManager.closeHandlers();
                  stopped.countDown();
                },
                "shutdown"));
    int exitCode = 0;
    try {
      running.set(Application.start(config));
    } catch (ConfigException e) {
      // A setting that only fails when used (a TLS file, a CA bundle): the message names it.
      LOG.log(Level.FINE, "configuration error", e);
      System.err.println("configuration error: " + e.getMessage());
      exitCode = 2;
    } catch (RuntimeException e) {
      LOG.log(Level.FINE, "cannot start", e);
      System.err.println("cannot start: " + (e.getMessage() != null ? e.getMessage() : e));
      exitCode = 1;
    } finally {
      // Whatever ended the start (an Error too): the hook waits for this, so the JVM's exit would
      // hang without it.
      startEnded.countDown();
    }
    if (exitCode != 0) {
      System.exit(exitCode);
      return;
    }
    stopped.await();
  }
}
