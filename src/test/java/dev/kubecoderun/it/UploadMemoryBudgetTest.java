package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.testing.Eventually;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Files sent to S3 on a server whose requests may hold 16 MiB at once
 * (REQUEST_MEMORY_BUDGET_MB=16): an upload keeps up to a part in memory before minio sends it (12
 * MiB while its buffer grows), reserved from the budget before it reads, so a second upload waits
 * while a stalled one holds its part, and both are stored whole; a run's generated files short of
 * room are skipped, not the run.
 */
@Tag("integration")
class UploadMemoryBudgetTest {
  private static final int MIB = 1 << 20;
  private static TestServer server;

  @BeforeAll
  static void start() {
    Map<String, String> env = TestServer.realStoresEnv("kcr-upbudget:", "kcr-upbudget");
    env.put("REQUEST_MEMORY_BUDGET_MB", "16");
    env.put("MAX_FILE_SIZE_MB", "32");
    env.put("POD_POOL_PY", "0");
    server = TestServer.start(new HashMap<>(env), "0");
  }

  /** Each test starts with nothing held (an earlier test's upload given back). */
  @org.junit.jupiter.api.BeforeEach
  void nothingHeld() throws InterruptedException {
    Eventually.await(
        "nothing held",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") == 0);
  }

  @AfterAll
  static void stop() {
    server.app.close();
  }

  private static byte[] content(int size, int seed) {
    byte[] b = new byte[size];
    new Random(seed).nextBytes(b);
    return b;
  }

  private static byte[] download(JsonNode upload) throws Exception {
    String sid = upload.path("session_id").asText();
    String fid = upload.path("files").get(0).path("fileId").asText();
    HttpResponse<byte[]> got =
        server.http.send(
            server.request("/v1/download/" + sid + "/" + fid).GET().build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(200, got.statusCode());
    return got.body();
  }

  private static final String BOUNDARY = "kcrBudgetBoundary";
  private static final byte[] TAIL =
      ("\r\n--" + BOUNDARY + "--\r\n").getBytes(StandardCharsets.US_ASCII);

  /**
   * An upload of {@code content} sent but for its last MiB and the multipart end, once it holds its
   * part of the budget.
   */
  private static Socket stalledUpload(byte[] content) throws Exception {
    byte[] head =
        ("--"
                + BOUNDARY
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"first.bin\""
                + "\r\nContent-Type: application/octet-stream\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII);
    Socket s =
        RawHttp.startPost(
            server.app.port(), "/v1/upload", BOUNDARY, head.length + content.length + TAIL.length);
    OutputStream out = s.getOutputStream();
    out.write(head);
    out.write(content, 0, content.length - MIB);
    out.flush();
    Eventually.await(
        "the stalled upload to hold its part",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") >= 12 * MIB);
    return s;
  }

  @Test
  void aSecondUploadWaitsWhileAStalledOneHoldsItsPartAndBothAreStoredWhole() throws Exception {
    byte[] first = content(10 * MIB, 1);
    byte[] second = content(10 * MIB, 2);
    try (Socket s = stalledUpload(first)) {
      OutputStream out = s.getOutputStream();
      CompletableFuture<TestServer.Reply> waiting =
          CompletableFuture.supplyAsync(
              () -> server.upload("/v1/upload", "second.bin", second, Map.of()));
      Eventually.await(
          "the second upload to wait for room",
          Duration.ofSeconds(30),
          () -> server.gauge("kubecoderun_request_memory_waiting") == 1);
      out.write(first, first.length - MIB, MIB);
      out.write(TAIL);
      out.flush();
      String reply = RawHttp.readReply(s.getInputStream());
      assertTrue(reply.startsWith("HTTP/1.1 200"), reply);
      TestServer.Reply other = waiting.get(60, TimeUnit.SECONDS);
      assertEquals(200, other.status(), other.body());
      JsonNode firstUpload =
          Json.tree(
              reply.substring(reply.indexOf("\r\n\r\n") + 4).getBytes(StandardCharsets.UTF_8));
      assertArrayEquals(first, download(firstUpload));
      assertArrayEquals(second, download(other.json()));
    }
    Eventually.await(
        "every reservation to be given back",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") == 0);
  }

  @Test
  void aRunsGeneratedFilesShortOfRoomAreSkippedAndItsAnswerStands() throws Exception {
    byte[] held = content(10 * MIB, 3);
    try (Socket s = stalledUpload(held)) {
      TestServer.Reply r =
          server.exec(
              Map.of(
                  "lang",
                  "py",
                  "code",
                  "for n in 'abc':\n    open(n + '.txt', 'w').write(n)\nprint('done')"));
      assertEquals(200, r.status(), r.body());
      JsonNode answer = r.json();
      assertEquals("done\n", answer.path("stdout").asText(), r.body());
      assertEquals(0, answer.path("files").size(), r.body());
      JsonNode skipped = answer.path("skipped_files");
      assertEquals(3, skipped.size(), r.body());
      for (int i = 0; i < 3; i++) {
        assertEquals("server_busy", skipped.get(i).path("reason").asText(), r.body());
      }
      assertTrue(skipped.get(0).path("message").asText().startsWith("the server had no memory"));
      // Once refused, the others are not tried: each would have waited in vain.
      assertTrue(skipped.get(1).path("message").asText().startsWith("not tried"), r.body());
      assertTrue(skipped.get(2).path("message").asText().startsWith("not tried"), r.body());
      // The upload that held the room goes on undisturbed.
      s.getOutputStream().write(held, held.length - MIB, MIB);
      s.getOutputStream().write(TAIL);
      String reply = RawHttp.readReply(s.getInputStream());
      assertTrue(reply.startsWith("HTTP/1.1 200"), reply);
    }
  }

  /**
   * A state sent to POST /state is written to Redis as base64, a string and again as the bytes
   * sent, on top of the bytes the upload holds: room for that is asked for before the write. A
   * state whose write the budget can never hold (6 MiB: 6 + 18 > 16 MiB) is a 503 that stores
   * nothing, not a write past the budget; a smaller one is stored, and all of it is given back.
   */
  @Test
  void aStateUploadIsWrittenToRedisOnlyWithRoomForItsBase64() throws Exception {
    String sid = dev.kubecoderun.session.Ids.next();
    byte[] large = content(6 * MIB, 4);
    large[0] = 2; // the version byte
    TestServer.Reply refused = postState(sid, large);
    Errors.assertError(refused, 503, "service_unavailable");
    assertTrue(refused.header("Retry-After") != null, refused.body());
    assertEquals(
        false, server.get("/v1/state/" + sid + "/info").json().path("exists").asBoolean(true));

    byte[] small = content(2 * MIB, 5);
    small[0] = 2;
    assertEquals(201, postState(sid, small).status());
    HttpResponse<byte[]> got =
        server.http.send(
            server.request("/v1/state/" + sid).GET().build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertArrayEquals(small, got.body());
    Eventually.await(
        "every reservation to be given back",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") == 0);
  }

  /**
   * A state upload refused for room (503) into a session id it created leaves no session behind:
   * each refused retry would otherwise keep an empty session until it expired. The id is free, so
   * another key may take it.
   */
  @Test
  void aStateUploadRefusedForRoomLeavesNoSessionBehind() {
    String sid = dev.kubecoderun.session.Ids.next();
    byte[] large = content(6 * MIB, 6);
    large[0] = 2;
    Errors.assertError(postState(sid, large), 503, "service_unavailable");

    TestServer.Reply other =
        server
            .withKey(TestServer.KEY2)
            .upload("mine.txt", new byte[] {'m'}, Map.of("session_id", sid));
    assertEquals(200, other.status(), sid + " was kept: " + other.body());
  }

  private static TestServer.Reply postState(String sid, byte[] state) {
    return server.send(
        server
            .request("/v1/state/" + sid)
            .header("Content-Type", "application/octet-stream")
            .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(state)));
  }
}
