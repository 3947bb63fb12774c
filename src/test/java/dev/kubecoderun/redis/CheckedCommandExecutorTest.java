package dev.kubecoderun.redis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.config.Config;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.junit.jupiter.api.Test;

/**
 * A peer that completes Redis's handshake and then answers every command with a list: the reply a
 * connection out of step gave SADD in issue 13. The command must fail as "unavailable" (503), never
 * with the reply, and the connection that got it must be closed, never used again.
 */
class CheckedCommandExecutorTest {
  /** The commands one connection received, and whether the client closed it. */
  static final class Peer {
    final List<String> commands = new ArrayList<>();
    volatile boolean closedByClient;
  }

  @Test
  void aConnectionWhoseReplyCannotBeUsedIsClosedAndNeverUsedAgain() throws Exception {
    ConcurrentLinkedQueue<Peer> peers = new ConcurrentLinkedQueue<>();
    try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      Thread.ofVirtual()
          .start(
              () -> {
                while (!server.isClosed()) {
                  try {
                    Socket s = server.accept();
                    Peer peer = new Peer();
                    peers.add(peer);
                    Thread.ofVirtual().start(() -> serve(s, peer));
                  } catch (IOException closed) {
                    return;
                  }
                }
              });
      Config.Redis cfg =
          Config.from(
                  Map.of(
                      "AUTH_ENABLED", "false",
                      "REDIS_URL", "redis://127.0.0.1:" + server.getLocalPort(),
                      "REDIS_SOCKET_TIMEOUT", "2"))
              .redis();
      try (RedisConnection redis = RedisClients.connect(cfg)) {
        assertThrows(UncheckedIOException.class, () -> redis.call(j -> j.sadd("k", "v")));
        assertThrows(UncheckedIOException.class, () -> redis.call(j -> j.sadd("k", "v")));
      }
      List<Peer> used = peers.stream().filter(p -> p.commands.contains("SADD")).toList();
      // Each of the two calls ran once and was retried once, each time on a connection of its own.
      assertEquals(4, used.size(), "connections that got SADD: " + peers.size());
      for (Peer p : used) {
        assertEquals(1, p.commands.stream().filter("SADD"::equals).count(), p.commands.toString());
        awaitClosed(p);
      }
    }
  }

  private static void awaitClosed(Peer p) throws InterruptedException {
    for (int i = 0; i < 100 && !p.closedByClient; i++) {
      Thread.sleep(20);
    }
    assertTrue(p.closedByClient, "the connection that got the list is still open: " + p.commands);
  }

  /** Reads RESP commands; HELLO gets a RESP3 server map, CLIENT gets OK, the rest a list. */
  private static void serve(Socket socket, Peer peer) {
    try (socket) {
      InputStream in = new BufferedInputStream(socket.getInputStream());
      OutputStream out = socket.getOutputStream();
      while (true) {
        String header = line(in);
        if (header == null) {
          peer.closedByClient = true;
          return;
        }
        int args = Integer.parseInt(header.substring(1));
        List<String> command = new ArrayList<>();
        for (int i = 0; i < args; i++) {
          int len = Integer.parseInt(line(in).substring(1));
          command.add(new String(in.readNBytes(len), StandardCharsets.UTF_8));
          in.readNBytes(2);
        }
        String name = command.get(0).toUpperCase();
        peer.commands.add(name);
        String reply =
            switch (name) {
              case "HELLO" ->
                  "%3\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.0.0\r\n"
                      + "$5\r\nproto\r\n:3\r\n";
              case "CLIENT" -> "+OK\r\n";
              default -> "*1\r\n$1\r\nx\r\n";
            };
        out.write(reply.getBytes(StandardCharsets.UTF_8));
        out.flush();
      }
    } catch (IOException e) {
      peer.closedByClient = true; // reset by the client (it closes with SO_LINGER 0)
    }
  }

  private static String line(InputStream in) throws IOException {
    StringBuilder sb = new StringBuilder();
    int c;
    while ((c = in.read()) != -1) {
      if (c == '\n') {
        return sb.toString().stripTrailing();
      }
      sb.append((char) c);
    }
    return null;
  }
}
