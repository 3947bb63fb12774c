package dev.kubecoderun.stores;

import dev.kubecoderun.testing.Eventually;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real redis-server (the Debian package) on a free loopback port, started by the tests. It saves
 * to disk when stopped, so a stop and restart keeps the data, as a production Redis with
 * persistence does.
 */
public final class RedisServer {
  private static RedisServer shared;

  final int port;
  private final Path dir;
  private final List<String> extraArgs;
  private Process process;

  private RedisServer(int port, Path dir, List<String> extraArgs) {
    this.port = port;
    this.dir = dir;
    this.extraArgs = extraArgs;
  }

  /**
   * The one server of the test run; each test class uses its own key prefix. Its port is one a
   * client can reach itself on while the server is stopped (where the kernel allows it), so the
   * tests that stop it also meet that case (issue 13).
   */
  public static synchronized RedisServer shared() {
    if (shared == null) {
      shared = start(FreePort.pickSelfConnectable().orElseGet(FreePort::pick), List.of());
      Runtime.getRuntime().addShutdownHook(new Thread(shared::kill));
    }
    return shared;
  }

  /** A server of the caller's, on {@code port}, with more redis-server arguments; kill it after. */
  public static RedisServer start(int port, List<String> extraArgs) {
    RedisServer server;
    try {
      server = new RedisServer(port, Files.createTempDirectory("kcr-redis-"), extraArgs);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    server.start();
    Runtime.getRuntime().addShutdownHook(new Thread(server::kill));
    return server;
  }

  public int port() {
    return port;
  }

  public String url() {
    return "redis://127.0.0.1:" + port;
  }

  public synchronized void start() {
    List<String> command =
        new ArrayList<>(
            List.of(
                "redis-server",
                "--port",
                Integer.toString(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                dir.toString(),
                "--save",
                "3600 1",
                "--appendonly",
                "no",
                "--protected-mode",
                "no"));
    command.addAll(extraArgs);
    try {
      process =
          new ProcessBuilder(command)
              .redirectErrorStream(true)
              .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("redis.log").toFile()))
              .start();
    } catch (IOException e) {
      throw new IllegalStateException(
          "cannot start redis-server (scripts/install-prereqs installs it): " + e.getMessage(), e);
    }
    FreePort.awaitListening(port, Duration.ofSeconds(10), process);
    // Listening is not serving: a restarted server answers LOADING until its dataset is read back.
    try {
      Eventually.await(
          "redis-server on " + port + " to have loaded its data",
          Duration.ofSeconds(30),
          () -> {
            try (redis.clients.jedis.Jedis j = new redis.clients.jedis.Jedis("127.0.0.1", port)) {
              j.ping();
              return true;
            } catch (redis.clients.jedis.exceptions.JedisDataException e) {
              // NOAUTH (a server with a password) is serving; LOADING is not.
              return !String.valueOf(e.getMessage()).startsWith("LOADING");
            } catch (redis.clients.jedis.exceptions.JedisException e) {
              return false;
            }
          });
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** SHUTDOWN SAVE: the data is on disk for the next start. */
  public synchronized void stop() {
    try {
      new ProcessBuilder("redis-cli", "-p", Integer.toString(port), "shutdown", "save")
          .redirectErrorStream(true)
          .start()
          .waitFor(10, TimeUnit.SECONDS);
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  public synchronized void kill() {
    if (process != null) {
      process.destroyForcibly();
    }
  }
}
