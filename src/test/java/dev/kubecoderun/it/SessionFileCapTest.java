package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.testing.Eventually;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A session holds at most MAX_SESSION_FILES files (3 here): an upload past it stores nothing and
 * says why, a run keeps its generated files while there is room and names the others, and a listing
 * reserves what it loads from the memory budget (REQUEST_MEMORY_BUDGET_MB=1 here).
 */
@Tag("integration")
class SessionFileCapTest {
  private static final int CAP = 3;
  private static TestServer server;

  @BeforeAll
  static void start() {
    Map<String, String> env = new HashMap<>();
    env.put("MAX_SESSION_FILES", Integer.toString(CAP));
    env.put("REQUEST_MEMORY_BUDGET_MB", "1");
    env.put("POD_POOL_PY", "0");
    server = TestServer.start(env, "0");
  }

  @AfterAll
  static void stop() {
    server.app.close();
  }

  private static String newSessionId() {
    return "cap" + Long.toString(System.nanoTime(), 36);
  }

  private static TestServer.Reply upload(String sid, String name) {
    return server.upload(
        "/v1/upload", name, name.getBytes(StandardCharsets.UTF_8), Map.of("session_id", sid));
  }

  /** POST /upload/batch of one part per name into {@code sid}, each file holding its name. */
  private static TestServer.Reply batch(String sid, String... names) {
    Map<String, byte[]> files = new LinkedHashMap<>();
    for (String n : names) {
      files.put(n, n.getBytes(StandardCharsets.UTF_8));
    }
    return server.uploadBatch(sid, files);
  }

  @Test
  void anUploadIntoAFullSessionStoresNothingAndSaysWhy() {
    String sid = newSessionId();
    for (String name : List.of("a.txt", "b.txt", "c.txt")) {
      TestServer.Reply r = upload(sid, name);
      assertEquals(200, r.status(), r.body());
    }

    TestServer.Reply refused = upload(sid, "d.txt");
    assertEquals(409, refused.status(), refused.body());
    JsonNode detail = refused.json().path("details").get(0);
    assertEquals("session_file_limit", detail.path("code").asText(), refused.body());
    assertTrue(refused.json().path("error").asText().contains("(3)"), refused.body());

    TestServer.Reply both = batch(sid, "e.txt", "f.txt");
    assertEquals(200, both.status(), both.body());
    assertEquals("error", both.json().path("message").asText(), both.body());
    assertEquals(2, both.json().path("failed").asInt(), both.body());
    for (JsonNode f : both.json().path("files")) {
      assertEquals("error", f.path("status").asText(), both.body());
      assertTrue(f.path("error").asText().contains("holds the most files"), both.body());
    }
    assertEquals(List.of("a.txt", "b.txt", "c.txt"), server.fileNames(sid));

    // Room again once a file is deleted; a new session has its own.
    String first =
        server.get("/v1/files/" + sid + "?detail=simple").json().get(0).path("id").asText();
    assertEquals(200, server.delete("/v1/files/" + sid + "/" + first).status());
    assertEquals(200, upload(sid, "d.txt").status());
    assertEquals(List.of("b.txt", "c.txt", "d.txt"), server.fileNames(sid));
    assertEquals(200, upload(newSessionId(), "elsewhere.txt").status());
  }

  /**
   * Each upload counts the session's files when its first file comes: two at once both find room.
   * The one whose files, once stored, leave the session past its cap takes them back and says why.
   */
  @Test
  void uploadsAtOnceNeverLeaveASessionPastItsCap() throws Exception {
    String sid = newSessionId();
    String head =
        "--kcrSlow\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n"
            + sid
            + "\r\n--kcrSlow\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow1.txt\""
            + "\r\nContent-Type: text/plain\r\n\r\nslow1\r\n--kcrSlow\r\n";
    String tail =
        "Content-Disposition: form-data; name=\"file\"; filename=\"slow2.txt\""
            + "\r\nContent-Type: text/plain\r\n\r\nslow2\r\n--kcrSlow--\r\n";
    byte[] body = (head + tail).getBytes(StandardCharsets.US_ASCII);
    try (Socket slow = RawHttp.startPost(server.app.port(), "/v1/upload", "kcrSlow", body.length)) {
      OutputStream out = slow.getOutputStream();
      out.write(head.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      Eventually.await(
          "the slow upload's first file stored",
          Duration.ofSeconds(30),
          () -> server.fileNames(sid).equals(List.of("slow1.txt")));

      // Another upload fills the session meanwhile (1 + 2 files = the cap)...
      TestServer.Reply quick = batch(sid, "quick1.txt", "quick2.txt");
      assertEquals(200, quick.status(), quick.body());
      assertEquals(2, quick.json().path("succeeded").asInt(), quick.body());

      // ...then the slow one's second file comes: room by the count it took first, none now.
      out.write(tail.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String answer = RawHttp.readReply(slow.getInputStream());
      assertTrue(answer.startsWith("HTTP/1.1 409 "), answer);
      assertTrue(answer.contains("session_file_limit"), answer);
    }
    assertEquals(
        List.of("quick1.txt", "quick2.txt"), server.fileNames(sid).stream().sorted().toList());
  }

  @Test
  void aRunKeepsItsGeneratedFilesWhileItsSessionHasRoomAndNamesTheOthers() {
    String sid = newSessionId();
    assertEquals(200, upload(sid, "input1.txt").status());
    assertEquals(200, upload(sid, "input2.txt").status());

    TestServer.Reply r =
        server.exec(
            Map.of(
                "lang",
                "py",
                "session_id",
                sid,
                "code",
                "for n in 'abc':\n    open(n + '.txt', 'w').write(n)\nprint('done')"));

    assertEquals(200, r.status(), r.body());
    JsonNode run = r.json();
    assertEquals(sid, run.path("session_id").asText(), r.body());
    assertEquals("done\n", run.path("stdout").asText(), r.body());
    assertEquals(1, run.path("files").size(), r.body());
    assertEquals("a.txt", run.path("files").get(0).path("name").asText(), r.body());
    JsonNode skipped = run.path("skipped_files");
    assertEquals(2, skipped.size(), r.body());
    for (JsonNode s : skipped) {
      assertEquals("session_full", s.path("reason").asText(), r.body());
    }
    assertEquals("b.txt", skipped.get(0).path("name").asText(), r.body());
    assertEquals(2, run.path("artifact_delivery").path("failed").asInt(), r.body());
    assertTrue(
        run.path("stderr").asText().contains("2 generated file(s) not kept: the session holds"),
        r.body());
    assertEquals(List.of("input1.txt", "input2.txt", "a.txt"), server.fileNames(sid));
  }

  /**
   * A listing reserves what it loads, 8 KiB a file, before it reads: with a stalled JSON body
   * holding nearly the whole budget (a body holds what it sent: all but its last byte here, and the
   * piece it waits for), the listing of a full session waits for room, then answers.
   */
  @Test
  void aListingWaitsForRoomInTheMemoryBudget() throws Exception {
    String sid = newSessionId();
    for (String name : List.of("a.txt", "b.txt", "c.txt")) {
      assertEquals(200, upload(sid, name).status());
    }
    Eventually.await(
        "nothing held",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_held_bytes") == 0);
    // 1 MiB less 8 KiB: the listing's 24 KiB do not fit beside it.
    int held = (1 << 20) - 8 * 1024;
    CompletableFuture<TestServer.Reply> listing;
    try (Socket stalled = RawHttp.connect(server.app.port())) {
      RawHttp.write(
          stalled,
          RawHttp.post(
              "/v1/exec",
              RawHttp.KEY_HEADER
                  + "Content-Type: application/json\r\nContent-Length: "
                  + held
                  + "\r\n",
              "{" + " ".repeat(held - 2)));
      Eventually.await(
          "the stalled body to hold its room",
          Duration.ofSeconds(30),
          () -> server.gauge("kubecoderun_request_memory_held_bytes") >= held);

      listing = CompletableFuture.supplyAsync(() -> server.get("/v1/files/" + sid));
      Eventually.await(
          "the listing to wait for room",
          Duration.ofSeconds(5),
          () -> server.gauge("kubecoderun_request_memory_waiting") == 1);
    }
    // The stalled request gone, its room given back: the listing goes on.
    TestServer.Reply r = listing.get(30, TimeUnit.SECONDS);
    assertEquals(200, r.status(), r.body());
    assertEquals(CAP, r.json().size(), r.body());
  }
}
