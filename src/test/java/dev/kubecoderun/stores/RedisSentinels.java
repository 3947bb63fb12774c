package dev.kubecoderun.stores;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A Redis Sentinel set-up of real servers (Debian's redis-server; {@code --sentinel} is the
 * redis-sentinel program): a master, one replica and three sentinels with a quorum of two, which
 * fail over one second after the master stops answering.
 */
public final class RedisSentinels implements AutoCloseable {
  public static final String MASTER_NAME = "kcr";

  private final RedisServer master;
  private final RedisServer replica;
  private final List<Integer> sentinelPorts = new ArrayList<>();
  private final List<Process> sentinels = new ArrayList<>();

  private RedisSentinels(RedisServer master, RedisServer replica) {
    this.master = master;
    this.replica = replica;
  }

  /** Starts everything and waits until the sentinels could fail over. */
  public static RedisSentinels start() {
    RedisServer master = RedisServer.start(FreePort.pick(), List.of());
    RedisSentinels set = null;
    try {
      RedisServer replica =
          RedisServer.start(
              FreePort.pick(), List.of("--replicaof", "127.0.0.1", Integer.toString(master.port)));
      set = new RedisSentinels(master, replica);
      for (int i = 0; i < 3; i++) {
        set.startSentinel(FreePort.pick());
      }
      set.awaitReady(Duration.ofSeconds(60));
      return set;
    } catch (RuntimeException | Error e) {
      if (set != null) {
        set.close();
      } else {
        master.kill();
      }
      throw e;
    }
  }

  private void startSentinel(int port) {
    try {
      Path dir = Files.createTempDirectory("kcr-sentinel-");
      Path conf = dir.resolve("sentinel.conf");
      Files.writeString(
          conf,
          String.join(
              "\n",
              "port " + port,
              "bind 127.0.0.1",
              "dir " + dir,
              "sentinel monitor " + MASTER_NAME + " 127.0.0.1 " + master.port + " 2",
              "sentinel down-after-milliseconds " + MASTER_NAME + " 1000",
              "sentinel failover-timeout " + MASTER_NAME + " 10000",
              ""));
      Process p =
          new ProcessBuilder("redis-server", conf.toString(), "--sentinel")
              .redirectErrorStream(true)
              .redirectOutput(dir.resolve("sentinel.log").toFile())
              .start();
      sentinels.add(p);
      sentinelPorts.add(port);
      FreePort.awaitListening(port, Duration.ofSeconds(10), p);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** REDIS_SENTINEL_NODES. */
  public String nodes() {
    return String.join(",", sentinelPorts.stream().map(p -> "127.0.0.1:" + p).toList());
  }

  public int masterPort() {
    return master.port;
  }

  public int replicaPort() {
    return replica.port;
  }

  /** SHUTDOWN of the master: it waits for the replica to have every write, then exits. */
  public void stopMaster() {
    master.stop();
  }

  /**
   * Waits until every sentinel names the replica as the master; returns a time (System.nanoTime) at
   * which none of them had yet, so before the failover.
   */
  public long awaitFailover(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    long beforeFailover = System.nanoTime();
    while (System.nanoTime() < deadline) {
      long asked = System.nanoTime();
      int switched = 0;
      for (int port : sentinelPorts) {
        if (cli(port, "sentinel", "get-master-addr-by-name", MASTER_NAME)
            .contains(Integer.toString(replica.port))) {
          switched++;
        }
      }
      if (switched == 0) {
        beforeFailover = asked;
      } else if (switched == sentinelPorts.size()) {
        return beforeFailover;
      }
      FreePort.sleep(50);
    }
    throw new AssertionError("no failover in " + timeout);
  }

  /** Each sentinel knows the replica (in sync) and the two other sentinels; a quorum is there. */
  private void awaitReady(Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      boolean ready =
          cli(replica.port, "info", "replication").contains("master_link_status:up")
              && sentinelPorts.stream()
                  .allMatch(
                      p ->
                          cli(p, "sentinel", "ckquorum", MASTER_NAME).startsWith("OK 3 ")
                              && cli(p, "sentinel", "replicas", MASTER_NAME)
                                  .contains(Integer.toString(replica.port)));
      if (ready) {
        return;
      }
      FreePort.sleep(200);
    }
    throw new IllegalStateException("the sentinels did not get ready in " + timeout);
  }

  private static String cli(int port, String... args) {
    List<String> command = new ArrayList<>(List.of("redis-cli", "-p", Integer.toString(port)));
    command.addAll(List.of(args));
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (!p.waitFor(10, TimeUnit.SECONDS)) {
        p.destroyForcibly();
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  @Override
  public void close() {
    sentinels.forEach(Process::destroyForcibly);
    master.kill();
    if (replica != null) {
      replica.kill();
    }
  }
}
