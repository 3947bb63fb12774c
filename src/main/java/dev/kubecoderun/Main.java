package dev.kubecoderun;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.metrics.JsonLogFormatter;
import java.util.concurrent.CountDownLatch;

/** Entry point: configuration, logging, start, and a clean stop on SIGTERM/SIGINT. */
public final class Main {
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
    } catch (IllegalStateException e) {
      System.err.println("cannot start: " + e.getMessage());
      System.exit(1);
      return;
    }
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime()
        .addShutdownHook(
            new Thread(
                () -> {
                  app.close();
                  stopped.countDown();
                },
                "shutdown"));
    stopped.await();
  }
}
