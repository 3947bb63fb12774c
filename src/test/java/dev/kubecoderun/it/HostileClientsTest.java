package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.session.Ids;
import dev.kubecoderun.testing.Eventually;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Hostile clients against servers with small bounds (MAX_CONNECTIONS=48,
 * IDLE_CONNECTION_TIMEOUT_SECONDS=2; MAX_CONCURRENT_REQUESTS=16): large unauthenticated bodies,
 * stalled requests and idle connections cost bounded work, get clear answers, and leave the API
 * answering everyone else.
 */
@Tag("integration")
class HostileClientsTest {
  private static TestServer server;

  @BeforeAll
  static void start() {
    server =
        TestServer.start(
            Map.of(
                "MAX_CONNECTIONS", "48",
                "IDLE_CONNECTION_TIMEOUT_SECONDS", "2",
                "POD_POOL_PY", "0"),
            "0");
  }

  @AfterAll
  static void stop() {
    server.app.close();
  }

  private static Socket connect() throws IOException {
    Socket s = RawHttp.connect(server.app.port());
    s.setSoTimeout(30_000);
    return s;
  }

  /** The status line of the answer on {@code s}, or null when the connection ended without one. */
  private static String statusLine(Socket s) {
    try {
      InputStream in = s.getInputStream();
      StringBuilder line = new StringBuilder();
      for (int c = in.read(); c != -1 && c != '\n'; c = in.read()) {
        line.append((char) c);
      }
      return line.isEmpty() ? null : line.toString().trim();
    } catch (IOException e) {
      return null;
    }
  }

  /** The head of an /exec with no credential header, whose body waits for 100 Continue. */
  private static final String UNAUTHENTICATED_JSON_WITH_EXPECT =
      RawHttp.post(
          "/v1/exec",
          "Content-Type: application/json\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n",
          "");

  /** A request of another, well-behaved client: answered, and quickly. */
  private static void assertOthersAreAnswered() {
    TestServer.Reply r =
        server.send(
            server.request("/v1/files/" + Ids.next()).timeout(Duration.ofSeconds(10)).GET());
    assertEquals(200, r.status(), r.body());
  }

  @Test
  void largeUnauthenticatedBodiesAre401AfterAtMostAMebibyteWhileOthersAreServed() throws Exception {
    byte[] chunk = "{},".repeat(20_000).getBytes(StandardCharsets.US_ASCII);
    ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
    try {
      List<Future<String>> answers = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        answers.add(
            pool.submit(
                () -> {
                  Socket s = connect();
                  try {
                    RawHttp.write(
                        s,
                        RawHttp.post(
                            "/v1/exec",
                            "Content-Type: application/json\r\nContent-Length: 10000000\r\n",
                            "["));
                    OutputStream out = s.getOutputStream();
                    // Writes on its own: the server answers long before the 10 MB are sent.
                    Thread writer =
                        Thread.ofVirtual()
                            .start(
                                () -> {
                                  try {
                                    for (long sent = 0; sent < 10_000_000; sent += chunk.length) {
                                      out.write(chunk);
                                    }
                                  } catch (IOException e) {
                                    // the server closed the connection after answering
                                  }
                                });
                    String status = statusLine(s);
                    s.close();
                    writer.join(10_000);
                    return status;
                  } finally {
                    s.close();
                  }
                }));
      }
      for (int i = 0; i < 5; i++) {
        assertOthersAreAnswered();
      }
      for (Future<String> a : answers) {
        assertEquals("HTTP/1.1 401 Unauthorized", a.get(60, TimeUnit.SECONDS));
      }
    } finally {
      pool.shutdownNow();
    }
    assertOthersAreAnswered();
  }

  /**
   * One request on a new connection of its own; its status line. The client then ends its side of
   * the connection and reads the whole answer up to the server's close, which comes once the server
   * is done with the request and looks for the next: when this returns, the request no longer holds
   * a slot of MAX_CONCURRENT_REQUESTS. (Not with {@code Connection: close}: Helidon 4.5.0 answers
   * it but leaves the connection open, helidon-io/helidon#12324.)
   */
  private static String probe(int port) throws IOException {
    try (Socket s = RawHttp.connect(port)) {
      s.setSoTimeout(10_000);
      RawHttp.write(
          s,
          "GET /v1/files/" + Ids.next() + " HTTP/1.1\r\nHost: x\r\n" + RawHttp.KEY_HEADER + "\r\n");
      s.shutdownOutput();
      String status = statusLine(s);
      s.getInputStream().transferTo(OutputStream.nullOutputStream());
      return status;
    }
  }

  /**
   * An upload that stalls in its body, holding a request in progress. It asks for 100 Continue,
   * which the server sends once the handler reads the body, so the request is known to be in
   * progress (its slot of MAX_CONCURRENT_REQUESTS taken) before this returns; then it sends a
   * little of the body and nothing more.
   */
  static Socket stalledUpload(int port, int which) throws IOException {
    Socket s = RawHttp.connect(port);
    s.setSoTimeout(10_000);
    RawHttp.write(
        s,
        RawHttp.post(
            "/v1/upload",
            RawHttp.KEY_HEADER
                + "Content-Type: multipart/form-data; boundary=b\r\n"
                + "Content-Length: 1000000\r\nExpect: 100-continue\r\n",
            ""));
    String status = statusLine(s);
    if (!"HTTP/1.1 100 Continue".equals(status)) {
      s.close();
      throw new AssertionError(
          "stalled upload "
              + which
              + " (earlier ones in progress, no other request): expected 100 Continue, got "
              + status);
    }
    assertEquals("", statusLine(s), "the empty line that ends the 100 Continue");
    RawHttp.write(s, "--b\r\n");
    return s;
  }

  /**
   * On a server of its own (no connection of another test around): requests that stall in their
   * body hold MAX_CONCURRENT_REQUESTS; one more is refused at once, and when they go the server
   * serves again.
   *
   * <p>The uploads start one after the other, each in progress before the next, and no other
   * request is in progress meanwhile: a request in progress while an upload starts would take the
   * last slot and the upload would be refused instead (the test once waited for a 503 that could
   * never come, with one upload refused and fifteen holding slots).
   */
  @Test
  void requestsOverMaxConcurrentRequestsGet503AtOnceAndTheRestIsServedAfter() throws Exception {
    TestServer own =
        TestServer.start(Map.of("MAX_CONCURRENT_REQUESTS", "16", "POD_POOL_PY", "0"), "0");
    try {
      int port = own.app.port();
      List<Socket> stalled = new ArrayList<>();
      try {
        assertEquals("HTTP/1.1 200 OK", probe(port));
        for (int i = 0; i < 16; i++) {
          stalled.add(stalledUpload(port, i));
        }
        assertEquals(
            "HTTP/1.1 503 Service Unavailable",
            probe(port),
            "a request over the limit, with 16 uploads in progress");
        TestServer.Reply refused =
            own.send(own.request("/v1/files/" + Ids.next()).timeout(Duration.ofSeconds(10)).GET());
        Errors.assertError(refused, 503, "service_unavailable");
        assertEquals("1", refused.header("Retry-After"));
        for (int i = 0; i < stalled.size(); i++) {
          assertEquals(
              0, stalled.get(i).getInputStream().available(), "stalled upload " + i + " answered");
        }
      } finally {
        for (Socket s : stalled) {
          s.close();
        }
      }
      Eventually.await(
          "requests served again",
          Duration.ofSeconds(20),
          () -> {
            try {
              return "HTTP/1.1 200 OK".equals(probe(port));
            } catch (IOException e) {
              return false;
            }
          });
    } finally {
      own.app.close();
    }
  }

  /**
   * Clients without a credential header that trickle a JSON body (where a key might be) hold at
   * most an eighth of MAX_CONCURRENT_REQUESTS: the ones past it get 503 at once, and a client with
   * a key is served meanwhile. Each stalled body asks for 100 Continue, sent once its scan reads
   * the body, so the scans in progress are known before the next one comes.
   */
  @Test
  void unauthenticatedJsonBodiesThatStallHoldOnlyAFewRequestSlots() throws Exception {
    TestServer own =
        TestServer.start(Map.of("MAX_CONCURRENT_REQUESTS", "16", "POD_POOL_PY", "0"), "0");
    List<Socket> stalled = new ArrayList<>();
    try {
      int port = own.app.port();
      List<String> answers = new ArrayList<>();
      for (int i = 0; i < 16; i++) {
        Socket s = RawHttp.connect(port);
        stalled.add(s);
        s.setSoTimeout(10_000);
        RawHttp.write(s, UNAUTHENTICATED_JSON_WITH_EXPECT);
        String status = statusLine(s);
        answers.add(status);
        if ("HTTP/1.1 100 Continue".equals(status)) {
          RawHttp.write(s, "{\"lang\":\"py\",\"code\":\"");
        }
      }
      assertEquals(
          2, answers.stream().filter("HTTP/1.1 100 Continue"::equals).count(), answers.toString());
      assertEquals(
          14,
          answers.stream().filter("HTTP/1.1 503 Service Unavailable"::equals).count(),
          answers.toString());
      assertEquals("HTTP/1.1 200 OK", probe(port), "a client with a key, meanwhile");
    } finally {
      for (Socket s : stalled) {
        s.close();
      }
      own.app.close();
    }
  }

  /**
   * A client without a credential header that sends its JSON body a byte every half second, never
   * idle long enough for the idle timeout, still has the whole body within
   * IDLE_CONNECTION_TIMEOUT_SECONDS (2 s here): past it the server ends the request.
   */
  @Test
  void anUnauthenticatedJsonBodyTrickledByteByByteIsCutOffAtTheIdleTimeout() throws Exception {
    try (Socket s = connect()) {
      RawHttp.write(s, UNAUTHENTICATED_JSON_WITH_EXPECT);
      assertEquals("HTTP/1.1 100 Continue", statusLine(s));
      long start = System.nanoTime();
      Thread trickle =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      for (int i = 0; i < 60; i++) {
                        s.getOutputStream().write(i == 0 ? '{' : ' ');
                        s.getOutputStream().flush();
                        Thread.sleep(500); // the client's pace, under the idle timeout
                      }
                    } catch (IOException | InterruptedException e) {
                      // cut off by the server
                    }
                  });
      s.setSoTimeout(20_000);
      // The request ends: its answer, or the connection closed.
      InputStream in = s.getInputStream();
      while (in.read() != -1) {
        // the 408 answer, if it got out before the close
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      trickle.interrupt();
      assertTrue(seconds < 10, "cut off after " + seconds + " s, the trickle would go on for 30");
    }
    assertOthersAreAnswered();
  }

  @Test
  void idleAndHalfSentConnectionsBeyondMaxConnectionsAreClosedAndDoNotStarveOthers()
      throws Exception {
    List<Socket> idle = new ArrayList<>();
    try {
      // More than MAX_CONNECTIONS: a new connection waits for a slot, which the idle
      // timeout frees within seconds.
      for (int i = 0; i < 60; i++) {
        Socket s = connect();
        if (i % 2 == 0) {
          // Half a request line, then nothing.
          RawHttp.write(s, "GET /v1/fi");
        }
        idle.add(s);
      }
      assertOthersAreAnswered();
      // Closed by the server within IDLE_CONNECTION_TIMEOUT_SECONDS (2 s, looked at every second).
      long start = System.nanoTime();
      for (Socket s : idle) {
        s.setSoTimeout(15_000);
        assertEquals(
            null, statusLine(s), "an idle connection is closed without an answer, or with 408");
      }
      assertTrue(System.nanoTime() - start < Duration.ofSeconds(15).toNanos(), "closed in time");
    } finally {
      for (Socket s : idle) {
        s.close();
      }
    }
    assertOthersAreAnswered();
  }

  @Test
  void moreFormFieldsThanMaxFormFieldsAre413() {
    StringBuilder body = new StringBuilder();
    for (int i = 0; i < 40; i++) {
      body.append("--b\r\nContent-Disposition: form-data; name=\"f")
          .append(i)
          .append("\"\r\n\r\nvalue\r\n");
    }
    body.append(
        "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nx\r\n--b--\r\n");
    TestServer.Reply r =
        server.send(
            server
                .request("/v1/upload")
                .header("Content-Type", "multipart/form-data; boundary=b")
                .POST(HttpRequest.BodyPublishers.ofString(body.toString())));
    Errors.assertError(r, 413, "resource_exhausted");
    assertTrue(r.body().contains("32"), r.body());
  }
}
