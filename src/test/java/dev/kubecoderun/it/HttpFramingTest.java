package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.testing.Eventually;
import dev.kubecoderun.testing.LogCapture;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * How a request is framed on the wire, from a hostile client's side: a connection the client asked
 * to close ends after its answer (the unread rest of its body is never taken for another request),
 * a chunked body with a broken chunk (its size, its line ends) is the client's 400, not a 500 with
 * a stack trace, and errors Helidon answers before routing have the error type of their status.
 */
@Tag("integration")
class HttpFramingTest {
  private static final Pattern STATUS_LINE = Pattern.compile("(?m)^HTTP/1\\.1 (\\d{3}) ");

  private static TestServer server;
  private static LogCapture logged; // everything, from the root logger

  @BeforeAll
  static void start() {
    // The default idle timeout (60 s): a connection closed within seconds was closed by the answer.
    server = TestServer.start(Map.of("POD_POOL_PY", "0"), "0");
    logged = LogCapture.of(Logger.getLogger(""));
  }

  @AfterAll
  static void stop() {
    logged.close();
    server.app.close();
  }

  /**
   * Sends {@code request} on a new connection and reads until the server closes it; fails if it is
   * still open after 10 s.
   */
  private static String untilClosed(String request) throws IOException {
    return untilClosed(server, request);
  }

  private static String untilClosed(TestServer on, String request) throws IOException {
    try (Socket s = RawHttp.connect(on.app.port())) {
      s.setSoTimeout(10_000);
      RawHttp.write(s, request);
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      InputStream in = s.getInputStream();
      byte[] buf = new byte[8192];
      try {
        for (int n = in.read(buf); n != -1; n = in.read(buf)) {
          got.write(buf, 0, n);
        }
      } catch (SocketTimeoutException e) {
        throw new AssertionError("the connection is still open 10 s on; it got: " + got, e);
      }
      return got.toString(StandardCharsets.UTF_8);
    }
  }

  /** What a trickling client got, and how long the server took to close the connection. */
  private record Trickled(String replies, double seconds) {}

  /**
   * Sends a byte every 300 ms (under a 2 s idle timeout, for 30 s) on {@code s} while reading what
   * comes back until the server closes the connection (or 20 s pass).
   */
  private static Trickled trickleUntilClosed(Socket s) throws IOException {
    return trickleUntilClosed(s, "a");
  }

  /** {@link #trickleUntilClosed(Socket)}, sending {@code piece} each time (a chunk of a byte). */
  private static Trickled trickleUntilClosed(Socket s, String piece) throws IOException {
    long start = System.nanoTime();
    Thread trickle =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    for (int i = 0; i < 100; i++) {
                      RawHttp.write(s, piece);
                      Thread.sleep(300); // under the idle timeout
                    }
                  } catch (IOException | InterruptedException e) {
                    // cut off by the server
                  }
                });
    s.setSoTimeout(20_000);
    ByteArrayOutputStream got = new ByteArrayOutputStream();
    try {
      s.getInputStream().transferTo(got);
    } catch (IOException e) {
      // reset by the server (closed too), or still open 20 s on: the caller's time says which
    }
    double seconds = (System.nanoTime() - start) / 1e9;
    trickle.interrupt();
    return new Trickled(got.toString(StandardCharsets.UTF_8), seconds);
  }

  private static List<String> statuses(String replies) {
    return STATUS_LINE.matcher(replies).results().map(m -> m.group(1)).toList();
  }

  /** The JSON body of the one answer in {@code replies}. */
  private static JsonNode body(String replies) throws IOException {
    Matcher m = Pattern.compile("(?s)\r\n\r\n(\\{.*\\})$").matcher(replies);
    assertTrue(m.find(), "a JSON body in: " + replies);
    return Json.tree(m.group(1).getBytes(StandardCharsets.UTF_8));
  }

  private static List<LogRecord> severe() {
    return logged.records().stream()
        .filter(r -> r.getLevel().intValue() >= Level.SEVERE.intValue())
        .toList();
  }

  @Test
  void aBodyLeftUnreadByAnAnswerToConnectionCloseIsNeverTakenForAnotherRequest() throws Exception {
    // Answered without reading the body: a method the path does not take, a path no route has,
    // a body that is not multipart, no credential. The body is itself a request.
    String hidden =
        "GET /v1/files/"
            + dev.kubecoderun.session.Ids.next()
            + " HTTP/1.1\r\nHost: x\r\n"
            + RawHttp.KEY_HEADER
            + "\r\n";
    for (String[] c :
        List.of(
            new String[] {"/v1/health", RawHttp.KEY_HEADER, "405"},
            new String[] {"/v1/nowhere", RawHttp.KEY_HEADER, "404"},
            new String[] {"/v1/upload", RawHttp.KEY_HEADER, "415"},
            new String[] {"/v1/upload", "", "401"})) {
      String replies =
          untilClosed(
              RawHttp.post(
                  c[0],
                  c[1]
                      + "Content-Type: text/plain\r\nConnection: close\r\nContent-Length: "
                      + hidden.length()
                      + "\r\n",
                  hidden));
      assertEquals(List.of(c[2]), statuses(replies), c[0] + ": one answer, then the close");
    }
  }

  /**
   * A body announced with Expect: 100-continue and answered without being read (no 100 sent): a
   * client or proxy that sends it anyway must not have it read as another request.
   */
  @Test
  void aBodyAnnouncedWith100ContinueAndAnsweredUnreadIsNeverTakenForAnotherRequest()
      throws Exception {
    String hidden = "GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    for (String[] c :
        List.of(
            new String[] {"/v1/nowhere", RawHttp.KEY_HEADER, "404"},
            new String[] {"/v1/upload", RawHttp.KEY_HEADER, "415"},
            new String[] {"/v1/upload", "", "401"})) {
      try (Socket s = RawHttp.connect(server.app.port())) {
        s.setSoTimeout(10_000);
        RawHttp.write(
            s,
            RawHttp.post(
                c[0],
                c[1]
                    + "Content-Type: text/plain\r\nExpect: 100-continue\r\nContent-Length: "
                    + hidden.length()
                    + "\r\n",
                ""));
        InputStream in = s.getInputStream();
        String first = RawHttp.readReply(in);
        assertEquals(List.of(c[2]), statuses(first), c[0]);
        assertTrue(
            first.toLowerCase(java.util.Locale.ROOT).contains("\r\nconnection: close\r\n"),
            c[0] + ": the client is told the connection ends: " + first);
        try {
          RawHttp.write(s, hidden);
        } catch (IOException e) {
          // closed already: nothing more to send
        }
        ByteArrayOutputStream rest = new ByteArrayOutputStream();
        try {
          in.transferTo(rest);
        } catch (SocketTimeoutException e) {
          throw new AssertionError(c[0] + ": the connection is still open; it got: " + rest, e);
        } catch (IOException e) {
          // reset: closed
        }
        assertEquals(List.of(), statuses(rest.toString(StandardCharsets.UTF_8)), c[0]);
      }
    }
  }

  @Test
  void aBrokenChunkIsTheClients400WithoutAStackTrace() throws Exception {
    logged.clear();
    String[][] cases = {
      {"/v1/exec", RawHttp.KEY_HEADER + "Content-Type: application/json\r\n"},
      {"/v1/state/" + dev.kubecoderun.session.Ids.next(), RawHttp.KEY_HEADER},
      {"/v1/upload", RawHttp.KEY_HEADER + "Content-Type: multipart/form-data; boundary=b\r\n"},
    };
    // A first chunk, then a size that is no number (then nothing: the client waits), or a last
    // chunk whose lines end in a CR alone or an LF alone.
    for (String broken : List.of("zz\r\n", "0\r\n\rX", "0\n\n")) {
      for (String[] c : cases) {
        String replies =
            untilClosed(
                RawHttp.post(
                    c[0], c[1] + "Transfer-Encoding: chunked\r\n", "3\r\n--b\r\n" + broken));
        String what = c[0] + " " + broken.strip() + ": " + replies;
        assertEquals(List.of("400"), statuses(replies), what);
        JsonNode error = body(replies);
        assertEquals("validation", error.path("error_type").asText(), what);
        assertEquals(
            "invalid_chunked_body", error.path("details").path(0).path("code").asText(), what);
      }
      // No credential header: a chunked body is not read for a key (ChunkedBodiesWithoutAKeyTest),
      // so its broken chunk is never reached.
      String replies =
          untilClosed(
              RawHttp.post(
                  "/v1/exec",
                  "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                  "3\r\n--b\r\n" + broken));
      assertEquals(List.of("401"), statuses(replies), replies);
      assertEquals(
          "missing_credentials", body(replies).path("details").path(0).path("code").asText());
    }
    assertEquals(List.of(), severe(), "nothing logged as a failure of the service");
  }

  @Test
  void aRequestLineTooLongIs414OfTypeValidation() throws Exception {
    String replies =
        untilClosed("GET /v1/health?" + "a".repeat(10_000) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    assertEquals(List.of("414"), statuses(replies));
    JsonNode error = body(replies);
    assertEquals("validation", error.path("error_type").asText());
    assertEquals("Request URI too long", error.path("error").asText());
  }

  /** What plain nginx sends its upstreams unless told otherwise: the answer says what to change. */
  @Test
  void http10Is505OfTypeValidationNamingTheFix() throws Exception {
    String replies = untilClosed("GET /v1/health HTTP/1.0\r\n\r\n");
    assertEquals(List.of("505"), statuses(replies));
    JsonNode error = body(replies);
    assertEquals("validation", error.path("error_type").asText());
    assertTrue(error.path("error").asText().contains("HTTP/1.1"), error.toString());
  }

  /**
   * A client with a key that sends its headers and part of its body, then nothing: Helidon's idle
   * timeout looks only at connections between requests, so each such request held its slot (and
   * what its body reserved from the memory budget) for as long as the client kept the connection.
   * Now the read of the body ends after IDLE_CONNECTION_TIMEOUT_SECONDS (2 s here) without bytes.
   */
  @Test
  void aBodyThatStopsArrivingEndsItsRequestAtTheIdleTimeout() throws Exception {
    TestServer own =
        TestServer.start(Map.of("IDLE_CONNECTION_TIMEOUT_SECONDS", "2", "POD_POOL_PY", "0"), "0");
    try {
      logged.clear();
      String key = RawHttp.KEY_HEADER;
      String[] stalled = {
        RawHttp.post(
            "/v1/exec",
            key + "Content-Type: application/json\r\nContent-Length: 10000\r\n",
            "{\"lang\":"),
        RawHttp.post(
            "/v1/state/" + dev.kubecoderun.session.Ids.next(),
            key + "Content-Length: 10000\r\n",
            "\u0002abc"),
        RawHttp.post(
            "/v1/upload",
            key + "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000\r\n",
            "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nab"),
        RawHttp.post(
            "/v1/exec",
            key + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
            "2\r\n{}\r\n"),
      };
      for (String request : stalled) {
        long start = System.nanoTime();
        untilClosed(own, request); // fails if still open 10 s on
        double seconds = (System.nanoTime() - start) / 1e9;
        assertTrue(seconds >= 1.5, "closed after " + seconds + " s, before the idle timeout");
      }
      assertEquals(List.of(), severe(), "nothing logged as a failure of the service");
      TestServer.Reply served =
          own.send(
              own.request("/v1/files/" + dev.kubecoderun.session.Ids.next())
                  .timeout(java.time.Duration.ofSeconds(10))
                  .GET());
      assertEquals(200, served.status(), "the server serves others after");
    } finally {
      own.app.close();
    }
  }

  /**
   * A JSON body over its limit is refused once the rest of it is read and dropped; a client that
   * stops sending that rest ends its request at the idle timeout (2 s here), quietly: the access
   * log says 408, and no 413 is tried on the closed connection (which Helidon logs as a failure).
   */
  @Test
  void aRefusedBodyThatStopsArrivingWhileItIsDroppedEndsQuietly() throws Exception {
    TestServer own =
        TestServer.start(
            Map.of(
                "IDLE_CONNECTION_TIMEOUT_SECONDS",
                "2",
                "MAX_REQUEST_BODY_MB",
                "1",
                "POD_POOL_PY",
                "0"),
            "0");
    try (Socket s = RawHttp.connect(own.app.port())) {
      logged.clear();
      RawHttp.write(
          s,
          RawHttp.post(
              "/v1/exec",
              RawHttp.KEY_HEADER
                  + "Content-Type: application/json\r\nContent-Length: "
                  + (3 << 20)
                  + "\r\n",
              ""));
      s.getOutputStream().write(new byte[(1 << 20) + 4096]); // past the limit, then nothing
      s.setSoTimeout(20_000);
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      try {
        s.getInputStream().transferTo(got);
      } catch (IOException e) {
        // reset by the server: closed too
      }
      assertEquals(List.of(), statuses(got.toString(StandardCharsets.UTF_8)), "no answer");
      Eventually.await(
          "the request's access log line",
          Duration.ofSeconds(10),
          () -> accessStatuses("/v1/exec").size() == 1);
      assertEquals(List.of(408), accessStatuses("/v1/exec"));
      assertEquals(
          List.of(),
          logged.records().stream()
              .filter(r -> r.getLevel().intValue() >= Level.WARNING.intValue())
              .map(r -> r.getLoggerName() + ": " + r.getMessage())
              .toList(),
          "nothing logged as a failure");
    } finally {
      own.app.close();
    }
  }

  /** The statuses of the access log lines of requests to {@code path} captured so far. */
  private static List<Integer> accessStatuses(String path) {
    return logged.records().stream()
        .filter(r -> r.getLoggerName().equals("dev.kubecoderun.access"))
        .map(r -> (Map<?, ?>) r.getParameters()[0])
        .filter(f -> path.equals(f.get("path")))
        .map(f -> ((Number) f.get("status")).intValue())
        .toList();
  }

  /**
   * A body its answer left unread (no key: 401; a path no route has: 404; a method the path does
   * not take: 405), then trickled a byte now and then: Helidon read it to its end before the next
   * request, with no limit of time, holding the request's slot. Now the connection ends within the
   * idle timeout (2 s here) of the answer.
   */
  @Test
  void aBodyLeftUnreadByItsAnswerIsNotWaitedForPastTheIdleTimeout() throws Exception {
    TestServer own =
        TestServer.start(Map.of("IDLE_CONNECTION_TIMEOUT_SECONDS", "2", "POD_POOL_PY", "0"), "0");
    try {
      logged.clear();
      for (String[] c :
          List.of(
              new String[] {
                "/v1/upload", "Content-Type: multipart/form-data; boundary=b\r\n", "401"
              },
              new String[] {"/v1/nowhere", RawHttp.KEY_HEADER, "404"},
              new String[] {"/v1/health", RawHttp.KEY_HEADER, "405"})) {
        try (Socket s = RawHttp.connect(own.app.port())) {
          RawHttp.write(s, RawHttp.post(c[0], c[1] + "Content-Length: 100000\r\n", "--b"));
          Trickled t = trickleUntilClosed(s);
          String replies = t.replies();
          double seconds = t.seconds();
          assertEquals(List.of(c[2]), statuses(replies), c[0] + ": " + replies);
          assertTrue(
              seconds < 10, c[0] + ": closed after " + seconds + " s, the trickle goes on for 30");
        }
      }
      assertEquals(List.of(), severe(), "nothing logged as a failure of the service");
      assertEquals(200, own.get("/health").status(), "the server serves others after");
    } finally {
      own.app.close();
    }
  }

  /**
   * A client with a key that sends its body a byte every 300 ms: each read gets bytes within the
   * idle timeout (2 s here), so that alone never ended it, and MAX_CONCURRENT_REQUESTS such clients
   * held every request slot for as long as they liked. Past the idle timeout a body must average
   * REQUEST_BODY_MIN_KIB_PER_SECOND (16 KiB/s): the next read is answered 408, and the connection
   * ends. So for every endpoint that reads a body (an upload, JSON, a state), framed by its length
   * or chunked.
   */
  @Test
  void aBodyTrickledByAKeyHolderIsAnswered408OnceItFallsBelowTheMinimumRate() throws Exception {
    TestServer own =
        TestServer.start(Map.of("IDLE_CONNECTION_TIMEOUT_SECONDS", "2", "POD_POOL_PY", "0"), "0");
    try {
      logged.clear();
      String length = "Content-Length: 100000\r\n";
      for (String[] c :
          List.of(
              new String[] {
                "/v1/upload",
                "Content-Type: multipart/form-data; boundary=b\r\n" + length,
                "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n"
              },
              new String[] {
                "/v1/exec",
                "Content-Type: application/json\r\n" + length,
                "{\"lang\":\"py\",\"code\":\"#"
              },
              // Trickled in chunks of a byte: Helidon hands a chunk over only once it is whole.
              new String[] {
                "/v1/exec",
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
                "16\r\n{\"lang\":\"py\",\"code\":\"#\r\n"
              },
              new String[] {"/v1/state/" + dev.kubecoderun.session.Ids.next(), length, "\u0002"})) {
        String what = c[0] + " " + c[1].replace("\r\n", " ");
        try (Socket s = RawHttp.connect(own.app.port())) {
          RawHttp.write(s, RawHttp.post(c[0], RawHttp.KEY_HEADER + c[1], c[2]));
          Trickled t = trickleUntilClosed(s, c[1].contains("chunked") ? "1\r\na\r\n" : "a");
          assertEquals(List.of("408"), statuses(t.replies()), what + ": " + t.replies());
          JsonNode error = body(t.replies());
          assertEquals("timeout", error.path("error_type").asText(), what);
          assertEquals("body_too_slow", error.at("/details/0/code").asText(), what);
          assertTrue(
              t.seconds() < 10, what + ": closed after " + t.seconds() + " s, the trickle goes on");
        }
      }
      assertEquals(List.of(), severe(), "nothing logged as a failure of the service");
      assertEquals(200, own.get("/health").status(), "the server serves others after");
    } finally {
      own.app.close();
    }
  }

  /**
   * A slow but real upload (64 KiB/s for 3 s, past the 2 s idle timeout) is well above the minimum
   * rate, and is stored.
   */
  @Test
  void aSlowButSteadyUploadIsStored() throws Exception {
    TestServer own =
        TestServer.start(Map.of("IDLE_CONNECTION_TIMEOUT_SECONDS", "2", "POD_POOL_PY", "0"), "0");
    try (Socket s = RawHttp.connect(own.app.port())) {
      s.setSoTimeout(20_000);
      byte[] chunk = new byte[8192];
      Arrays.fill(chunk, (byte) 'a');
      int chunks = 24;
      String head =
          "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n";
      String tail = "\r\n--b--\r\n";
      long length = head.length() + (long) chunks * chunk.length + tail.length();
      RawHttp.write(
          s,
          RawHttp.post(
              "/v1/upload",
              RawHttp.KEY_HEADER
                  + "Content-Type: multipart/form-data; boundary=b\r\nConnection: close\r\n"
                  + "Content-Length: "
                  + length
                  + "\r\n",
              head));
      var out = s.getOutputStream();
      // 24 pieces 125 ms apart: the body takes 3 s, past the 2 s grace, at 64 KiB/s.
      for (int i = 0; i < chunks; i++) {
        out.write(chunk);
        out.flush();
        Thread.sleep(125); // the client's pace: 64 KiB/s
      }
      out.write(tail.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      ByteArrayOutputStream got = new ByteArrayOutputStream();
      s.getInputStream().transferTo(got);
      String replies = got.toString(StandardCharsets.UTF_8);
      assertEquals(List.of("200"), statuses(replies), replies);
      assertEquals("a.txt", body(replies).at("/files/0/filename").asText(), replies);
    } finally {
      own.app.close();
    }
  }

  /**
   * A client (no key needed) that sends a request line and then its headers a byte now and then:
   * never idle, so Helidon's idle timeout, which looks only at connections waiting for a request
   * line, never closed it. The headers now have IDLE_CONNECTION_TIMEOUT_SECONDS (2 s here).
   */
  @Test
  void headersTrickledAfterTheRequestLineAreCutOffAtTheIdleTimeout() throws Exception {
    TestServer own =
        TestServer.start(Map.of("IDLE_CONNECTION_TIMEOUT_SECONDS", "2", "POD_POOL_PY", "0"), "0");
    try (Socket s = RawHttp.connect(own.app.port())) {
      logged.clear();
      RawHttp.write(s, "GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
      double seconds = trickleUntilClosed(s).seconds();
      assertTrue(seconds < 10, "cut off after " + seconds + " s, the trickle would go on for 30");
      assertEquals(List.of(), severe(), "nothing logged as a failure of the service");
      assertEquals(200, own.get("/health").status(), "the server serves others after");
    } finally {
      own.app.close();
    }
  }
}
