package dev.kubecoderun.stores;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A TCP proxy in front of a real Redis that can lose one reply: once armed with a command name, the
 * first connection that sends that command gets it through to Redis (which applies it), but the
 * connection is cut when Redis answers, so the client never reads the reply. What a client sees
 * when Redis or the network fails after a write was applied.
 */
public final class LostReplyProxy implements AutoCloseable {
  private final ServerSocket server;
  private final int redisPort;
  private final AtomicReference<byte[]> armed = new AtomicReference<>();
  private final AtomicInteger lost = new AtomicInteger();
  private volatile boolean downAfterLoss;

  private LostReplyProxy(int redisPort) throws IOException {
    this.redisPort = redisPort;
    this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
    Thread.ofVirtual().start(this::accept);
  }

  public static LostReplyProxy to(int redisPort) {
    try {
      return new LostReplyProxy(redisPort);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public String url() {
    return "redis://127.0.0.1:" + server.getLocalPort();
  }

  /** The reply to the next {@code command} (its name, as sent: EVAL, HSET...) is lost. */
  public void loseTheReplyTo(String command) {
    armed.set(("\r\n" + command + "\r\n").getBytes(StandardCharsets.US_ASCII));
  }

  /**
   * As {@link #loseTheReplyTo}, and then the proxy accepts no connection any more: Redis is down
   * right after it applied {@code command}, so nothing the client sends after it (a retry included)
   * arrives.
   */
  public void goDownAfter(String command) {
    downAfterLoss = true;
    loseTheReplyTo(command);
  }

  /** How many replies were lost so far. */
  public int lost() {
    return lost.get();
  }

  private void accept() {
    while (!server.isClosed()) {
      try {
        Socket client = server.accept();
        Socket redis = new Socket(InetAddress.getLoopbackAddress(), redisPort);
        boolean[] cut = new boolean[1];
        Thread.ofVirtual().start(() -> toRedis(client, redis, cut));
        Thread.ofVirtual().start(() -> toClient(redis, client, cut));
      } catch (IOException closed) {
        return;
      }
    }
  }

  /** Client to Redis; a chunk with the armed command marks the connection first. */
  private void toRedis(Socket client, Socket redis, boolean[] cut) {
    try (client;
        redis) {
      InputStream in = client.getInputStream();
      OutputStream out = redis.getOutputStream();
      byte[] buf = new byte[64 * 1024];
      int n;
      while ((n = in.read(buf)) > 0) {
        byte[] command = armed.get();
        if (command != null && contains(buf, n, command) && armed.compareAndSet(command, null)) {
          synchronized (cut) {
            cut[0] = true;
          }
        }
        out.write(buf, 0, n);
        out.flush();
      }
    } catch (IOException ignored) {
      // either side closed
    }
  }

  /** Redis to client; on a marked connection the reply is dropped and the client cut off. */
  private void toClient(Socket redis, Socket client, boolean[] cut) {
    try (client;
        redis) {
      InputStream in = redis.getInputStream();
      OutputStream out = client.getOutputStream();
      byte[] buf = new byte[64 * 1024];
      int n;
      while ((n = in.read(buf)) > 0) {
        synchronized (cut) {
          if (cut[0]) {
            lost.incrementAndGet();
            if (downAfterLoss) {
              close();
            }
            return; // closes both: the client reads the end of the stream, not the reply
          }
        }
        out.write(buf, 0, n);
        out.flush();
      }
    } catch (IOException ignored) {
      // either side closed
    }
  }

  private static boolean contains(byte[] buf, int n, byte[] what) {
    outer:
    for (int i = 0; i + what.length <= n; i++) {
      for (int j = 0; j < what.length; j++) {
        if (Character.toUpperCase(buf[i + j]) != what[j]) {
          continue outer;
        }
      }
      return true;
    }
    return false;
  }

  @Override
  public void close() {
    try {
      server.close();
    } catch (IOException ignored) {
      // closing
    }
  }
}
