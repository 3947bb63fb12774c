package dev.kubecoderun.sandbox;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.Filter;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.memory.Room;
import io.helidon.webclient.api.WebClient;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** RunnerClient against a stand-in runner (a JDK HttpServer speaking the protocol's shapes). */
class RunnerClientTest {
  private HttpServer server;
  private RunnerClient client;
  private final List<String> requested = new java.util.concurrent.CopyOnWriteArrayList<>();
  private final List<String> connections = new java.util.concurrent.CopyOnWriteArrayList<>();

  /** An error answer far longer than anything worth showing. */
  private static final String HUGE = "x".repeat(200_000);

  /** The deadline of a call that should end well within it. */
  private static final Duration LIMIT = Duration.ofSeconds(30);

  /** An output of 1 MiB. */
  private static final String BIG = "y".repeat(1 << 20);

  /** Answers of a runner that is broken, or not ours, by the code that asks for them. */
  private static final Map<String, Map.Entry<Integer, String>> BROKEN =
      Map.of(
          "cut-off", Map.entry(200, "{\"exit_code\":0,\"stdout\":\"1"),
          "not-an-object", Map.entry(200, "null"),
          "no-path", Map.entry(200, "{\"exit_code\":0,\"files\":[{\"size\":1}]}"),
          "huge-error", Map.entry(500, HUGE),
          "huge-json-error", Map.entry(500, "{\"error\":\"" + HUGE + "\"}"),
          "ends-its-sandbox", Map.entry(200, "{\"exit_code\":0,\"sandbox_ended\":true}"),
          "big-output", Map.entry(200, "{\"exit_code\":0,\"stdout\":\"" + BIG + "\"}"));

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    handle("/health", ex -> reply(ex, 200, "{\"status\":\"ok\",\"warm\":{\"py\":true}}"));
    handle(
        "/execute",
        ex -> {
          boolean authorized =
              "Bearer t0ken".equals(ex.getRequestHeaders().getFirst("Authorization"));
          // A request whose code names a broken answer gets that answer.
          String code = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
          for (Map.Entry<String, Map.Entry<Integer, String>> broken : BROKEN.entrySet()) {
            if (code.contains(broken.getKey())) {
              reply(ex, broken.getValue().getKey(), broken.getValue().getValue());
              return;
            }
          }
          reply(
              ex,
              authorized ? 200 : 401,
              authorized
                  ? "{\"exit_code\":0,\"stdout\":\"1\\n\",\"stderr\":\"\",\"duration_ms\":1.5,"
                      + "\"files\":[{\"path\":\"a b/c.txt\",\"size\":3,\"mtime\":1,\"change\":\"created\"}]}"
                  : "{\"error\":\"unauthorized\"}");
        });
    handle(
        "/files",
        ex -> {
          String raw = ex.getRequestURI().getRawPath();
          String header = ex.getRequestHeaders().getFirst("X-Kcr-Path");
          requested.add(ex.getRequestMethod() + " " + raw + (header == null ? "" : " " + header));
          if (header != null && header.contains("refused-huge")) {
            reply(ex, 413, HUGE);
          } else if (raw.endsWith("/missing")) {
            reply(ex, 404, "{\"error\":\"not found\"}");
          } else if (raw.endsWith("/broken")) {
            reply(ex, 500, "{\"error\":\"boom\"}");
          } else if (raw.endsWith("/short")) {
            ex.getRequestBody().readAllBytes();
            ex.sendResponseHeaders(200, 100); // promises 100 bytes, sends 5
            ex.getResponseBody().write("12345".getBytes(StandardCharsets.UTF_8));
            ex.getResponseBody().flush();
            ex.close(); // the JDK server drops the connection of an answer left short
          } else {
            byte[] body = ex.getRequestBody().readAllBytes();
            reply(ex, ex.getRequestMethod().equals("PUT") ? 201 : 200, body.length + ":" + raw);
          }
        });
    handle("/reset", ex -> reply(ex, 500, HUGE));
    server.start();
    WebClient http = WebClient.builder().build();
    client =
        new RunnerClient(
            http, URI.create("http://127.0.0.1:" + server.getAddress().getPort()), "t0ken");
  }

  /** Serves {@code path}, noting how each request asks for its connection to be used. */
  private void handle(String path, HttpHandler handler) {
    server
        .createContext(path, handler)
        .getFilters()
        .add(
            Filter.beforeHandler(
                "connection use",
                ex ->
                    connections.add(
                        ex.getRequestMethod()
                            + " "
                            + ex.getRequestURI().getPath()
                            + " Connection: "
                            + ex.getRequestHeaders().getFirst("Connection"))));
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private static void reply(com.sun.net.httpserver.HttpExchange ex, int status, String body)
      throws IOException {
    ex.getRequestBody().readAllBytes();
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(status, b.length);
    ex.getResponseBody().write(b);
    ex.close();
  }

  /**
   * A /health answer far longer than the runner's (user code in its place, on Kubernetes) is no
   * healthy runner, and is not read whole.
   */
  @Test
  void anOversizedHealthAnswerIsNotHealthy() {
    server.removeContext("/health");
    handle(
        "/health",
        ex ->
            reply(
                ex,
                200,
                "{\"warm\":{\"py\":true},\"pad\":\""
                    + "a".repeat(RunnerClient.MAX_HEALTH_BYTES)
                    + "\"}"));
    assertFalse(client.healthy("py"));
  }

  /**
   * No runner call leaves its connection open for a later call to reuse: a connection that sat idle
   * in Helidon's cache longer than the read timeout could fail when reused
   * (helidon-io/helidon#10861). Seen on the wire, so the test does not have to sit idle itself.
   */
  @Test
  void everyRunnerCallClosesItsConnectionSoNoneIsReusedAfterSittingIdle() throws Exception {
    assertTrue(client.healthy("py"));
    RunnerResult r =
        client.execute(
            new RunnerRequest("py", "print(1)", 1000, List.of(), null, false),
            Duration.ofSeconds(5));
    assertEquals("1\n", r.stdout());
    assertEquals(
        List.of(new RunnerResult.ChangedFile("a b/c.txt", null, 3, 1, "created")),
        r.changedFiles());
    client.post("/execute", Map.of("ptc", true), Duration.ofSeconds(5), 1000);
    client.putFile("a.txt", new ByteArrayInputStream(new byte[] {1}), LIMIT);
    client.readFile("a.txt", LIMIT, InputStream::readAllBytes);
    assertThrows(SandboxException.class, client::reset);
    assertEquals(
        List.of(
            "GET /health Connection: close",
            "POST /execute Connection: close",
            "POST /execute Connection: close",
            "PUT /files Connection: close",
            "GET /files/a.txt Connection: close",
            "POST /reset Connection: close"),
        connections);
  }

  /**
   * A single-use local sandbox whose run left no file ends itself after its answer: the client
   * keeps that word, so closing the sandbox makes no destroy call; an answer without it changes
   * nothing.
   */
  @Test
  void theRunnersWordThatItsSandboxEndedIsKept() throws Exception {
    RunnerRequest plain = new RunnerRequest("py", "print(1)", 1000, List.of(), null, false);
    assertFalse(client.execute(plain, Duration.ofSeconds(5)).sandboxEnded());
    assertFalse(client.sandboxEnded());
    RunnerRequest ends = new RunnerRequest("py", "ends-its-sandbox", 1000, List.of(), null, false);
    assertTrue(client.execute(ends, Duration.ofSeconds(5)).sandboxEnded());
    assertTrue(client.sandboxEnded());
  }

  @Test
  void anAnswerIsPaidForAsItIsReadAndASmallOneCostsAFewKib() throws Exception {
    MemoryBudget budget = new MemoryBudget(64 << 20, Duration.ofMillis(50));
    MemoryBudget.Held held = budget.hold();
    RunnerRequest plain = new RunnerRequest("py", "print(1)", 1000, List.of(), null, false);
    assertEquals("1\n", client.execute(plain, Duration.ofSeconds(5), 1 << 24, held).stdout());
    assertTrue(held.held() <= 4096, "held " + held.held());
    held.releaseAll();
    RunnerRequest big = new RunnerRequest("py", "big-output", 1000, List.of(), null, false);
    assertEquals(BIG, client.execute(big, Duration.ofSeconds(5), 1 << 24, held).stdout());
    long cost = (long) RunnerClient.REPLY_COST * BIG.length();
    assertTrue(held.held() >= cost && held.held() < cost + (64 << 10), "held " + held.held());
  }

  /** No room for the answer: the budget's failure, not the sandbox's (the API's 503 says so). */
  @Test
  void anAnswerThatFindsNoRoomEndsTheCallWithTheBudgetsFailure() {
    MemoryBudget budget = new MemoryBudget(4 << 20, Duration.ofMillis(50));
    budget.hold().reserve(3 << 20);
    RunnerRequest big = new RunnerRequest("py", "big-output", 1000, List.of(), null, false);
    MemoryBudget.Held held = budget.hold();
    assertThrows(
        MemoryBudgetExhaustedException.class,
        () -> client.execute(big, Duration.ofSeconds(5), 1 << 24, held));
  }

  @Test
  void aRunnerAnswerOverTheBoundIsRefusedWithoutReadingItAll() throws Exception {
    RunnerRequest req = new RunnerRequest("py", "print(1)", 1000, List.of(), null, false);
    // The stand-in's answer is about 120 bytes: within 1000, not within 50.
    assertEquals("1\n", client.execute(req, Duration.ofSeconds(5), 1000, Room.NONE).stdout());
    SandboxException e =
        assertThrows(
            SandboxException.class,
            () -> client.execute(req, Duration.ofSeconds(5), 50, Room.NONE));
    assertTrue(e.getMessage().contains("larger than 50 bytes"), e.getMessage());
  }

  /** A reply that is not a whole result is a sandbox failure (503), not a failure of the API. */
  @Test
  void aMalformedAnswerIsASandboxFailure() {
    for (String code : List.of("cut-off", "not-an-object", "no-path")) {
      RunnerRequest req = new RunnerRequest("py", code, 1000, List.of(), null, false);
      assertThrows(SandboxException.class, () -> client.execute(req, Duration.ofSeconds(5)), code);
    }
  }

  /** An error answer is shown to the user and logged: only its first KiB is kept. */
  @Test
  void anErrorAnswerIsCutToItsFirstKib() {
    for (String code : List.of("huge-error", "huge-json-error")) {
      RunnerRequest req = new RunnerRequest("py", code, 1000, List.of(), null, false);
      SandboxException e =
          assertThrows(SandboxException.class, () -> client.execute(req, Duration.ofSeconds(5)));
      assertTrue(e.getMessage().contains("answered 500 to execute: xxx"), e.getMessage());
      assertTrue(e.getMessage().length() < 1100, code + ": " + e.getMessage().length());
    }
    SandboxException put =
        assertThrows(
            SandboxException.class,
            () ->
                client.putFile("refused-huge.txt", new ByteArrayInputStream(new byte[10]), LIMIT));
    assertTrue(put.getMessage().contains(": 413 xxx"), put.getMessage());
    assertTrue(put.getMessage().length() < 1100, "put: " + put.getMessage().length());
    SandboxException reset = assertThrows(SandboxException.class, client::reset);
    assertTrue(reset.getMessage().contains("answered 500 to reset: xxx"), reset.getMessage());
    assertTrue(reset.getMessage().length() < 1100, "reset: " + reset.getMessage().length());
  }

  @Test
  void aFileWhoseStoreFailsMidStreamIsAnIoFailureNotASandboxFailure() throws Exception {
    client.putFile("ok.txt", new java.io.ByteArrayInputStream(new byte[100_000]), LIMIT);
    java.io.InputStream failing =
        new java.io.InputStream() {
          private int left = 70_000;

          @Override
          public int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0];
          }

          @Override
          public int read(byte[] b, int off, int len) throws IOException {
            if (left <= 0) {
              throw new IOException("S3 connection reset");
            }
            int n = Math.min(len, left);
            left -= n;
            return n;
          }
        };
    IOException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            IOException.class, () -> client.putFile("a.txt", failing, LIMIT));
    assertEquals("S3 connection reset", e.getMessage());
  }

  @Test
  void aRefusedExecuteIsASandboxFailure() {
    RunnerClient wrongToken = new RunnerClient(WebClient.builder().build(), client.base(), "wrong");
    SandboxException e =
        assertThrows(
            SandboxException.class,
            () ->
                wrongToken.execute(
                    new RunnerRequest("py", "1", 1000, null, null, false), Duration.ofSeconds(5)));
    assertTrue(e.getMessage().contains("401"), e.getMessage());
  }

  /**
   * Every name goes on the wire encoded once (Helidon's uri(String) encoded an encoded path again:
   * "a b.txt" was asked for as /files/a%2520b.txt and answered 404).
   */
  @Test
  void fileNamesGoOnTheWireEncodedOnce() throws Exception {
    Map<String, String> names = new LinkedHashMap<>();
    names.put("a b.txt", "a%20b.txt");
    names.put("é.txt", "%C3%A9.txt");
    names.put("数据.csv", "%E6%95%B0%E6%8D%AE.csv");
    names.put("a+b.txt", "a%2Bb.txt");
    names.put("a%20b.txt", "a%2520b.txt");
    names.put("a#b.txt", "a%23b.txt");
    names.put("a?b.txt", "a%3Fb.txt");
    names.put("it's.txt", "it%27s.txt");
    names.put("a&b.txt", "a%26b.txt");
    names.put("q\"q.txt", "q%22q.txt");
    names.put("{x};y=z.txt", "%7Bx%7D%3By%3Dz.txt");
    names.put("new\nline\t.txt", "new%0Aline%09.txt");
    names.put("sub dir/ü/x.txt", "sub%20dir/%C3%BC/x.txt");
    for (var e : names.entrySet()) {
      String ref = PathEncoding.encodePath(e.getKey());
      assertEquals(e.getValue(), ref);
      client.putFile(e.getKey(), new ByteArrayInputStream(new byte[] {1, 2}), LIMIT);
      String got = client.readFile(ref, LIMIT, in -> new String(in.readAllBytes(), UTF_8));
      assertEquals("0:/files/" + e.getValue(), got);
    }
    List<String> expected = new ArrayList<>();
    for (String encoded : names.values()) {
      expected.add("PUT /files " + encoded);
      expected.add("GET /files/" + encoded);
    }
    assertEquals(expected, requested);
    // A ref of bytes that are not UTF-8 (only the runner can name such a file) goes out as it is.
    assertEquals(
        "0:/files/bad%FF.txt",
        client.readFile("bad%FF.txt", LIMIT, in -> new String(in.readAllBytes(), UTF_8)));
  }

  /** Helidon 4.4 garbles the request line of a streamed request over about 1 KiB: not ours. */
  @Test
  void aLongNameIsUploadedIntact() throws Exception {
    String name =
        String.join("/", java.util.Collections.nCopies(8, "\u6570".repeat(60))) + "/x.txt";
    client.putFile(name, new ByteArrayInputStream(new byte[] {1}), LIMIT);
    assertEquals(List.of("PUT /files " + PathEncoding.encodePath(name)), requested);
    String ref = PathEncoding.encodePath(name);
    assertEquals(
        "0:/files/" + ref, client.readFile(ref, LIMIT, in -> new String(in.readAllBytes(), UTF_8)));
  }

  @Test
  void aFileTheRunnerCannotGiveIsAFileErrorNotASandboxFailure() throws Exception {
    RunnerFileException missing =
        assertThrows(
            RunnerFileException.class, () -> client.readFile("missing", LIMIT, in -> null));
    assertEquals("not found", missing.getMessage());
    for (String bad : List.of("a b", "a%2", "a%zz", "x\r\nHost: evil", "")) {
      assertThrows(RunnerFileException.class, () -> client.readFile(bad, LIMIT, in -> null), bad);
    }
    assertThrows(SandboxException.class, () -> client.readFile("broken", LIMIT, in -> null));
    RunnerFileException cut =
        assertThrows(
            RunnerFileException.class,
            () -> client.readFile("short", LIMIT, InputStream::readAllBytes));
    assertTrue(cut.getMessage().startsWith("reading it broke off"), cut.getMessage());
    // An IOException of the reader itself (the file store) is not the runner's.
    IOException store =
        assertThrows(
            IOException.class,
            () ->
                client.readFile(
                    "fine",
                    LIMIT,
                    in -> {
                      throw new IOException("disk full");
                    }));
    assertEquals("disk full", store.getMessage());
  }

  @Test
  void encodedPathsAreRecognised() {
    assertTrue(PathEncoding.isEncodedPath("a/b%20c.txt"));
    assertTrue(PathEncoding.isEncodedPath("%FF"));
    assertFalse(PathEncoding.isEncodedPath("a b"));
    assertFalse(PathEncoding.isEncodedPath("a%F"));
    assertFalse(PathEncoding.isEncodedPath("a?b"));
    assertEquals("a%2Fb", PathEncoding.encodeSegment("a/b"));
  }
}
