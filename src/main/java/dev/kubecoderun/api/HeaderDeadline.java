package dev.kubecoderun.api;

import io.helidon.http.Headers;
import io.helidon.http.HttpPrologue;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.http1.Http1ConnectionListener;
import java.time.Duration;

/**
 * The headers of a request must arrive within IDLE_CONNECTION_TIMEOUT_SECONDS of its request line.
 * Helidon's idle timeout closes a connection only while it waits for a request line: one whose
 * client sent a request line and then trickles its headers, a byte now and then, was never closed
 * (up to 16 KiB of headers at a byte a minute: days), and MAX_CONNECTIONS such clients, no key
 * needed, would keep every other client waiting for a connection. Told of a request line, this
 * starts a {@link ReadDeadline} on the connection's thread (the one reading the headers), which
 * interrupts it past the timeout; that closes the socket. Told of the headers, it ends it.
 */
final class HeaderDeadline implements Http1ConnectionListener {
  // Listeners are called on the connection's own thread: one deadline at a time per thread.
  private static final ThreadLocal<ReadDeadline> CURRENT = new ThreadLocal<>();

  private final Duration timeout;

  HeaderDeadline(Duration timeout) {
    this.timeout = timeout;
  }

  @Override
  public void prologue(ConnectionContext ctx, HttpPrologue prologue) {
    end(); // one left by a request whose headers were refused
    CURRENT.set(new ReadDeadline(timeout));
  }

  @Override
  public void headers(ConnectionContext ctx, Headers headers) {
    end();
  }

  private static void end() {
    ReadDeadline d = CURRENT.get();
    if (d != null) {
      CURRENT.remove();
      d.close(); // clears an interrupt it made, if the headers came just as it passed
    }
  }
}
