package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.testing.Eventually;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A session stores at most MAX_SESSION_STORAGE_MB (1 MiB here) of files, uploaded and generated
 * together, on both kinds of stores: an upload past it stores nothing and says why, a run keeps its
 * generated files while they fit and names the others, a deleted file's bytes are free again. And
 * an upload that fails into a session it created leaves no session behind.
 */
@Tag("integration")
class SessionStorageQuotaTest {
  private static final int KIB = 1024;
  private static final Map<Stores, TestServer> SERVERS = new EnumMap<>(Stores.class);

  private static synchronized TestServer server(Stores kind) {
    return SERVERS.computeIfAbsent(
        kind,
        k -> {
          Map<String, String> env = k.env("kcr-quota");
          env.put("MAX_SESSION_STORAGE_MB", "1");
          env.put("POD_POOL_PY", "0");
          return TestServer.start(env, "0");
        });
  }

  @AfterAll
  static void stop() {
    SERVERS.values().forEach(s -> s.app.close());
  }

  private static String newSessionId() {
    return "q" + Long.toString(System.nanoTime(), 36);
  }

  private static byte[] bytes(int n, char fill) {
    byte[] b = new byte[n];
    Arrays.fill(b, (byte) fill);
    return b;
  }

  private static TestServer.Reply upload(TestServer s, String sid, String name, int size) {
    return s.upload("/v1/upload", name, bytes(size, name.charAt(0)), Map.of("session_id", sid));
  }

  private static String idOf(TestServer s, String sid, String name) {
    for (JsonNode f : s.get("/v1/files/" + sid + "?detail=simple").json()) {
      if (f.path("name").asText().equals(name)) {
        return f.path("id").asText();
      }
    }
    throw new AssertionError(name + " not in " + sid);
  }

  /** POST /upload/batch of one part per name and size into {@code sid}. */
  private static TestServer.Reply batch(TestServer s, String sid, Map<String, Integer> sizes) {
    Map<String, byte[]> files = new LinkedHashMap<>();
    sizes.forEach((name, size) -> files.put(name, bytes(size, name.charAt(0))));
    return s.uploadBatch(sid, files);
  }

  private static void assertStorageLimit(TestServer.Reply r) {
    JsonNode e = Errors.assertError(r, 409, "resource_conflict");
    assertEquals("session_storage_limit", e.path("details").get(0).path("code").asText(), r.body());
    assertTrue(e.path("error").asText().contains("(1 MiB)"), r.body());
  }

  @ParameterizedTest
  @EnumSource(Stores.class)
  void anUploadPastTheQuotaStoresNothingAndADeleteFreesItsBytes(Stores kind) {
    TestServer s = server(kind);
    String sid = newSessionId();
    assertEquals(200, upload(s, sid, "a.bin", 600 * KIB).status());

    assertStorageLimit(upload(s, sid, "b.bin", 600 * KIB));
    assertEquals(List.of("a.bin"), s.fileNames(sid));
    TestServer.Reply a = s.get("/v1/download/" + sid + "/" + idOf(s, sid, "a.bin"));
    assertArrayEquals(bytes(600 * KIB, 'a'), a.raw().body(), "what the session held is intact");

    // A batch keeps each file that fits and names each that does not.
    Map<String, Integer> parts = new LinkedHashMap<>();
    parts.put("c.bin", 300 * KIB); // 900 KiB
    parts.put("d.bin", 200 * KIB); // would be 1100 KiB
    parts.put("e.bin", 100 * KIB); // 1000 KiB
    TestServer.Reply partial = batch(s, sid, parts);
    assertEquals(200, partial.status(), partial.body());
    assertEquals("partial_success", partial.json().path("message").asText(), partial.body());
    JsonNode d = partial.json().path("files").get(1);
    assertEquals("error", d.path("status").asText(), partial.body());
    assertTrue(d.path("error").asText().contains("(1 MiB)"), partial.body());
    assertEquals(List.of("a.bin", "c.bin", "e.bin"), s.fileNames(sid).stream().sorted().toList());

    // Deleting frees the bytes: the refused file fits now.
    assertEquals(200, s.delete("/v1/files/" + sid + "/" + idOf(s, sid, "a.bin")).status());
    assertEquals(200, upload(s, sid, "b.bin", 600 * KIB).status());
    assertEquals(List.of("b.bin", "c.bin", "e.bin"), s.fileNames(sid).stream().sorted().toList());
    // Another session has its own, up to the last byte; then no byte more.
    String full = newSessionId();
    assertEquals(200, upload(s, full, "f.bin", 1024 * KIB).status());
    assertStorageLimit(upload(s, full, "g.bin", 1));
    assertEquals(List.of("f.bin"), s.fileNames(full));
  }

  /**
   * Each upload measures the session when its first file comes: two at once may both find room. The
   * one whose files, once stored, leave the session past its quota takes them back.
   */
  @ParameterizedTest
  @EnumSource(Stores.class)
  void uploadsAtOnceNeverLeaveASessionPastItsQuota(Stores kind) throws Exception {
    TestServer s = server(kind);
    String sid = newSessionId();
    String head =
        "--kcrSlow\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n"
            + sid
            + "\r\n--kcrSlow\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow1.bin\""
            + "\r\nContent-Type: application/octet-stream\r\n\r\n"
            + "s".repeat(400 * KIB)
            + "\r\n--kcrSlow\r\n";
    String tail =
        "Content-Disposition: form-data; name=\"file\"; filename=\"slow2.bin\""
            + "\r\nContent-Type: application/octet-stream\r\n\r\n"
            + "t".repeat(100 * KIB)
            + "\r\n--kcrSlow--\r\n";
    byte[] body = (head + tail).getBytes(StandardCharsets.US_ASCII);
    try (Socket slow = RawHttp.startPost(s.app.port(), "/v1/upload", "kcrSlow", body.length)) {
      OutputStream out = slow.getOutputStream();
      out.write(head.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      Eventually.await(
          "the slow upload's first file stored",
          Duration.ofSeconds(30),
          () -> s.fileNames(sid).equals(List.of("slow1.bin")));

      // Another upload fills the session meanwhile (400 + 600 KiB)...
      assertEquals(200, upload(s, sid, "quick.bin", 600 * KIB).status());

      // ...then the slow one's second file comes: room by what it measured first, none now.
      out.write(tail.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String answer = RawHttp.readReply(slow.getInputStream());
      assertTrue(answer.startsWith("HTTP/1.1 409 "), answer);
      assertTrue(answer.contains("session_storage_limit"), answer);
    }
    assertEquals(List.of("quick.bin"), s.fileNames(sid));
  }

  /**
   * A run keeps its generated files while they fit: one past the quota is skipped and named, a
   * later one that fits is still kept, and the run's answer stands.
   */
  @ParameterizedTest
  @EnumSource(Stores.class)
  void aRunKeepsItsGeneratedFilesWhileTheyFitAndNamesTheOthers(Stores kind) {
    TestServer s = server(kind);
    String sid = newSessionId();
    assertEquals(200, upload(s, sid, "input.bin", 600 * KIB).status());

    TestServer.Reply r =
        s.exec(
            Map.of(
                "lang",
                "py",
                "session_id",
                sid,
                "code",
                "for n, kib in (('a', 300), ('b', 300), ('c', 50)):\n"
                    + "    open(n + '.bin', 'wb').write(b'x' * kib * 1024)\n"
                    + "print('done')"));

    assertEquals(200, r.status(), r.body());
    JsonNode run = r.json();
    assertEquals("done\n", run.path("stdout").asText(), r.body());
    List<String> kept = new ArrayList<>();
    run.path("files").forEach(f -> kept.add(f.path("name").asText()));
    assertEquals(List.of("a.bin", "c.bin"), kept, r.body());
    JsonNode skipped = run.path("skipped_files");
    assertEquals(1, skipped.size(), r.body());
    assertEquals("b.bin", skipped.get(0).path("name").asText(), r.body());
    assertEquals("session_storage_full", skipped.get(0).path("reason").asText(), r.body());
    assertEquals(1, run.path("artifact_delivery").path("failed").asInt(), r.body());
    assertTrue(run.path("stderr").asText().contains("'b.bin' not kept"), r.body());
    assertEquals(
        List.of("a.bin", "c.bin", "input.bin"), s.fileNames(sid).stream().sorted().toList());
  }

  /**
   * A modified input is kept anew beside its original, which stays (an earlier answer names it):
   * both take the session's bytes. The original's 600 KiB and its changed copy's do not fit in 1
   * MiB: the copy is skipped, the original is as it was.
   */
  @ParameterizedTest
  @EnumSource(Stores.class)
  void aModifiedInputCountsBesideItsOriginalWhichStays(Stores kind) {
    TestServer s = server(kind);
    String sid = newSessionId();
    assertEquals(200, upload(s, sid, "data.bin", 600 * KIB).status());
    String id = idOf(s, sid, "data.bin");

    TestServer.Reply r =
        s.exec(
            Map.of(
                "lang",
                "py",
                "session_id",
                sid,
                "files",
                List.of(Map.of("id", id, "session_id", sid, "name", "data.bin")),
                "code",
                "open('data.bin', 'ab').write(b'!')\nprint('changed')"));

    assertEquals(200, r.status(), r.body());
    assertEquals("changed\n", r.json().path("stdout").asText(), r.body());
    assertEquals(0, r.json().path("files").size(), r.body());
    JsonNode skipped = r.json().path("skipped_files").get(0);
    assertEquals("data.bin", skipped.path("name").asText(), r.body());
    assertEquals("session_storage_full", skipped.path("reason").asText(), r.body());
    assertEquals(List.of("data.bin"), s.fileNames(sid));
    assertArrayEquals(bytes(600 * KIB, 'd'), s.get("/v1/download/" + sid + "/" + id).raw().body());
  }

  /**
   * An upload refused into a session id it created (past the quota, with too many files, a body cut
   * inside its file) leaves no session behind: the id is free, so another key may take it. A
   * session that existed before stays.
   */
  @ParameterizedTest
  @EnumSource(Stores.class)
  void aFailedUploadLeavesNoSessionItCreated(Stores kind) {
    TestServer s = server(kind);
    String overQuota = newSessionId();
    assertStorageLimit(upload(s, overQuota, "big.bin", 1100 * KIB));
    String tooMany = newSessionId(); // MAX_FILES_PER_REQUEST is 5
    Map<String, Integer> six = new LinkedHashMap<>();
    for (String n : List.of("1", "2", "3", "4", "5", "6")) {
      six.put(n + ".txt", 10);
    }
    TestServer.Reply refused = batch(s, tooMany, six);
    assertEquals(413, refused.status(), refused.body());
    String cut = newSessionId();
    String body =
        "--B\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n"
            + cut
            + "\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.txt\""
            + "\r\n\r\n"
            + "x".repeat(100_000);
    TestServer.Reply r =
        s.send(
            s.request("/v1/upload")
                .header("Content-Type", "multipart/form-data; boundary=B")
                .POST(HttpRequest.BodyPublishers.ofString(body)));
    assertEquals(400, r.status(), r.body());

    for (String sid : List.of(overQuota, tooMany, cut)) {
      TestServer.Reply other =
          s.withKey(TestServer.KEY2).upload("mine.txt", bytes(3, 'm'), Map.of("session_id", sid));
      assertEquals(200, other.status(), sid + " was kept: " + other.body());
    }

    String existing = newSessionId();
    assertEquals(200, upload(s, existing, "a.bin", 10).status());
    assertStorageLimit(upload(s, existing, "big.bin", 1100 * KIB));
    TestServer.Reply other =
        s.withKey(TestServer.KEY2)
            .upload("mine.txt", bytes(3, 'm'), Map.of("session_id", existing));
    assertEquals(404, other.status(), other.body());
    assertEquals(List.of("a.bin"), s.fileNames(existing));
  }
}
