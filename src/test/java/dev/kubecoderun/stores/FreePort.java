package dev.kubecoderun.stores;

import dev.kubecoderun.testing.Eventually;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;

/** Loopback ports for the test servers. */
final class FreePort {
  private FreePort() {}

  static int pick() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * A free loopback port that a connection to it can reach itself on while nothing listens there:
   * one of the kernel's ephemeral range, even (Linux gives connect() even source ports first).
   * Empty where the range is unknown (not Linux).
   */
  static Optional<Integer> pickSelfConnectable() {
    Path rangeFile = Path.of("/proc/sys/net/ipv4/ip_local_port_range");
    if (!Files.isReadable(rangeFile)) {
      return Optional.empty();
    }
    String[] range;
    try {
      // readString stops short on /proc files (their size is 0); a line reader does not
      range = Files.readAllLines(rangeFile).get(0).trim().split("\\s+");
    } catch (IOException e) {
      return Optional.empty();
    }
    int low = Integer.parseInt(range[0]);
    int high = Integer.parseInt(range[1]);
    for (int i = 0; i < 1000; i++) {
      int port = ThreadLocalRandom.current().nextInt(low, high + 1) & ~1;
      if (port < low) {
        continue;
      }
      try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
        return Optional.of(s.getLocalPort());
      } catch (IOException busy) {
        // try another
      }
    }
    return Optional.empty();
  }

  /** Waits until something accepts connections on the port. */
  static void awaitListening(int port, Duration timeout, Process process) {
    try {
      Eventually.await(
          "a test server listening on " + port,
          timeout,
          () -> {
            if (!process.isAlive()) {
              throw new IllegalStateException("test server exited with " + process.exitValue());
            }
            try {
              new Socket(InetAddress.getLoopbackAddress(), port).close();
              return true;
            } catch (IOException e) {
              return false;
            }
          });
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** A polling loop's pause (RedisSentinels' failover watch keeps state between its looks). */
  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
