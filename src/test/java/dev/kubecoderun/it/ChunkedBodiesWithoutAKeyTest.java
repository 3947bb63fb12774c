package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Helidon reads a whole chunk of a chunked body into memory before it gives any of it, and the
 * chunk's size is the client's word (up to 2 GiB, outside the memory budget). A client with no key
 * announces such a chunk and sends its bytes: the server must not read them for it. The idle
 * timeout stays at its default (60 s), so an answer or an end within the sockets' 20 s is the
 * server declining to read, not its idle watch.
 */
@Tag("integration")
class ChunkedBodiesWithoutAKeyTest {
  // 64 MiB: within the largest body allowed, which is all Helidon checks a chunk against.
  private static final String HUGE_CHUNK = "4000000\r\n" + "x".repeat(4096);
  private static TestServer server;

  @BeforeAll
  static void start() {
    server = TestServer.start(Map.of("POD_POOL_PY", "0"), "0");
  }

  @AfterAll
  static void stop() {
    server.app.close();
  }

  private static Socket sendHead(String path, String contentType) throws IOException {
    Socket s = RawHttp.connect(server.app.port());
    s.setSoTimeout(20_000);
    RawHttp.write(
        s,
        RawHttp.post(
            path,
            "Content-Type: " + contentType + "\r\nTransfer-Encoding: chunked\r\n",
            HUGE_CHUNK));
    return s;
  }

  /** The body is not scanned for a key: no key in the headers is a 401 at once. */
  @Test
  void aChunkedJsonBodyIsNotReadForAKey() throws IOException {
    try (Socket s = sendHead("/v1/exec", "application/json")) {
      String reply = RawHttp.readReply(s.getInputStream());
      assertTrue(reply.startsWith("HTTP/1.1 401 "), reply);
      assertEquals(-1, s.getInputStream().read(), "the connection ends: its body is not read");
    }
  }

  /** The 401 leaves the body unread, and its rest is not drained: the connection ends. */
  @Test
  void theChunkedRestOfABodyAnAnswerLeftUnreadIsNotDrained() throws IOException {
    try (Socket s = sendHead("/v1/upload", "multipart/form-data; boundary=b")) {
      InputStream in = s.getInputStream();
      String reply = RawHttp.readReply(in);
      assertTrue(reply.startsWith("HTTP/1.1 401 "), reply);
      assertEquals(-1, in.read(), "the connection ends: its body is not read");
    }
  }
}
