package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.testing.Eventually;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A server whose requests may hold 4 MiB of buffered data at once (REQUEST_MEMORY_BUDGET_MB=4): a
 * state upload that would go past it waits for room, and nothing is lost.
 */
@Tag("integration")
class RequestMemoryBudgetTest {
  private static final int MIB = 1 << 20;
  private static TestServer server;

  @BeforeAll
  static void start() {
    server = TestServer.start(Map.of("REQUEST_MEMORY_BUDGET_MB", "4", "POD_POOL_PY", "0"), "0");
  }

  @AfterAll
  static void stop() {
    server.app.close();
  }

  private static byte[] state(int size) {
    byte[] b = new byte[size];
    new Random(size).nextBytes(b);
    b[0] = 2; // the version byte
    return b;
  }

  /**
   * A state upload of {@code bytes} to {@code sid} sent but for all its first KiB, once it holds
   * its room (the upload reserves its length before it reads).
   */
  private static Socket stalledUpload(String sid, byte[] bytes) throws Exception {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", server.app.port()), 5000);
    s.setSoTimeout(60_000);
    OutputStream out = s.getOutputStream();
    out.write(
        ("POST /v1/state/"
                + sid
                + " HTTP/1.1\r\nHost: localhost\r\nX-API-Key: "
                + TestServer.KEY
                + "\r\nContent-Type: application/octet-stream\r\nContent-Length: "
                + bytes.length
                + "\r\nConnection: close\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
    out.write(bytes, 0, 1024);
    out.flush();
    Eventually.await(
        "the stalled upload to hold its room",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") >= bytes.length);
    return s;
  }

  /** Sends the rest of a stalled upload; its status line. */
  private static String finish(Socket s, byte[] bytes) throws Exception {
    s.getOutputStream().write(bytes, 1024, bytes.length - 1024);
    s.getOutputStream().flush();
    InputStream in = s.getInputStream();
    StringBuilder status = new StringBuilder();
    for (int c = in.read(); c != -1 && c != '\n'; c = in.read()) {
      status.append((char) c);
    }
    return status.toString();
  }

  /**
   * A state read asks for what it holds once its size is known: a small one is served at once while
   * a large upload holds most of the budget.
   */
  @Test
  void aSmallStateIsReadAtOnceWhileALargeUploadHoldsMostOfTheBudget() throws Exception {
    String small = Ids.next();
    byte[] tiny = state(2048);
    assertEquals(
        201,
        server
            .send(
                server
                    .request("/v1/state/" + small)
                    .header("Content-Type", "application/octet-stream")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(tiny)))
            .status());
    byte[] large = state(3 * MIB + MIB / 2);
    try (Socket s = stalledUpload(Ids.next(), large)) {
      HttpResponse<byte[]> got =
          server.http.send(
              server.request("/v1/state/" + small).GET().build(),
              HttpResponse.BodyHandlers.ofByteArray());
      assertEquals(200, got.statusCode());
      assertArrayEquals(tiny, got.body());
      String status = finish(s, large);
      assertTrue(status.startsWith("HTTP/1.1 201"), status);
    }
    Eventually.await(
        "every reservation to be given back",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") == 0);
  }

  @Test
  void anUploadPastTheBudgetWaitsForRoomAndBothAreStoredWhole() throws Exception {
    String first = Ids.next();
    String second = Ids.next();
    byte[] bytes = state(3 * MIB);
    try (Socket s = stalledUpload(first, bytes)) {
      CompletableFuture<TestServer.Reply> waiting =
          CompletableFuture.supplyAsync(
              () ->
                  server.send(
                      server
                          .request("/v1/state/" + second)
                          .header("Content-Type", "application/octet-stream")
                          .POST(HttpRequest.BodyPublishers.ofByteArray(bytes))));
      Eventually.await(
          "the second upload to wait for room",
          Duration.ofSeconds(30),
          () -> server.gauge("kubecoderun_request_memory_waiting") == 1);
      String status = finish(s, bytes);
      assertTrue(status.startsWith("HTTP/1.1 201"), status);
      assertEquals(201, waiting.get(60, TimeUnit.SECONDS).status());
    }
    for (String sid : new String[] {first, second}) {
      HttpResponse<byte[]> got =
          server.http.send(
              server.request("/v1/state/" + sid).GET().build(),
              HttpResponse.BodyHandlers.ofByteArray());
      assertEquals(200, got.statusCode());
      assertArrayEquals(bytes, got.body(), sid);
    }
    Eventually.await(
        "every reservation to be given back",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") == 0);
  }

  /**
   * A key sent in a JSON body is looked for in up to 1 MiB of it, reserved before it is read: with
   * no room for that, the request is a 503 (the one error shape, Retry-After), and goes through
   * once there is room.
   */
  @Test
  void aBodyKeyReadShortOfRoomIsA503ThenGoesThrough() throws Exception {
    String body =
        Json.writeString(Map.of("lang", "py", "code", "print(1)", "api_key", TestServer.KEY));
    java.util.function.Supplier<TestServer.Reply> send =
        () ->
            server.send(
                HttpRequest.newBuilder(server.base.resolve("/v1/exec"))
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofString(body)));
    byte[] large = state(3 * MIB + MIB / 2);
    try (Socket s = stalledUpload(Ids.next(), large)) {
      TestServer.Reply refused = send.get();
      assertEquals(503, refused.status(), refused.body());
      assertEquals("service_unavailable", refused.json().path("error_type").asText());
      assertTrue(refused.header("Retry-After") != null, refused.body());
      String status = finish(s, large);
      assertTrue(status.startsWith("HTTP/1.1 201"), status);
    }
    TestServer.Reply ok = send.get();
    assertEquals(200, ok.status(), ok.body());
    assertEquals("1\n", ok.json().path("stdout").asText(), ok.body());
  }

  /**
   * A JSON body that finds no room as it arrives (a stalled state upload holds 3.5 of the 4 MiB,
   * and this body is 1 MiB) is a 503 in the one error shape, with Retry-After, after its wait for
   * room; with room again, the same request is read and answered.
   */
  @Test
  void aJsonBodyShortOfRoomAsItArrivesIsA503ThenGoesThrough() throws Exception {
    Map<String, Object> body = Map.of("lang", "cobol", "code", "#".repeat(MIB));
    byte[] large = state(3 * MIB + MIB / 2);
    try (Socket s = stalledUpload(Ids.next(), large)) {
      TestServer.Reply refused = server.exec(body);
      assertEquals(503, refused.status(), refused.body());
      assertEquals("service_unavailable", refused.json().path("error_type").asText());
      assertTrue(refused.header("Retry-After") != null, refused.body());
      String status = finish(s, large);
      assertTrue(status.startsWith("HTTP/1.1 201"), status);
    }
    TestServer.Reply read = server.exec(body);
    assertEquals(400, read.status(), read.body()); // read whole, then refused for its language
    Eventually.await(
        "every reservation to be given back",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") == 0);
  }

  /**
   * A JSON body is paid for as it arrives, not as its Content-Length announces: a client that
   * announces 3.5 MiB and stalls after its first KiB holds a few KiB of the 4 MiB budget, and
   * another request's 1 MiB body is read and answered at once (here a 400 for its language), not
   * refused for room after a 10 s wait.
   */
  @Test
  void aStalledJsonBodyHoldsOnlyWhatItSent() throws Exception {
    try (Socket s = RawHttp.connect(server.app.port())) {
      RawHttp.write(
          s,
          RawHttp.post(
              "/v1/exec",
              RawHttp.KEY_HEADER
                  + "Content-Type: application/json\r\nContent-Length: "
                  + (3 * MIB + MIB / 2)
                  + "\r\n",
              "{\"lang\":\"py\",\"code\":\"" + "#".repeat(1024)));
      Eventually.await(
          "the stalled body to be read",
          Duration.ofSeconds(30),
          () -> server.gauge("kubecoderun_request_memory_held_bytes") > 0);
      double held = server.gauge("kubecoderun_request_memory_held_bytes");
      assertTrue(
          held < 64 << 10, "a stalled body holds what it sent, not all it announced: " + held);
      TestServer.Reply other = server.exec(Map.of("lang", "cobol", "code", "#".repeat(MIB)));
      assertEquals(400, other.status(), other.body());
    }
    Eventually.await(
        "every reservation to be given back",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") == 0);
  }
}
