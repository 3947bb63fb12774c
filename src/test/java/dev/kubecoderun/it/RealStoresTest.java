package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.stores.RedisServer;
import dev.kubecoderun.stores.S3Server;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The API end to end on the production stores (a real redis-server and S3Proxy), then with each of
 * them stopped mid-run: 503 with Retry-After while a store is down, recovery without a restart once
 * it is back, and nothing stored before the fault is lost.
 */
@Tag("integration")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RealStoresTest {
  private static final byte[] CSV = "n\n1\n2\n3\n".getBytes(StandardCharsets.UTF_8);
  private final TestServer server = TestServer.withRealStores();

  /** Upload, a run that reads it and writes a file, and the download of that file. */
  private static String[] uploadRunDownload(TestServer server) {
    JsonNode up = server.upload("/upload", "data.csv", CSV, Map.of()).json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").path(0).path("fileId").asText();
    JsonNode run =
        server
            .exec(
                Map.of(
                    "lang",
                    "py",
                    "code",
                    "rows = open('data.csv').read().split()[1:]\n"
                        + "open('total.txt', 'w').write(str(sum(map(int, rows))))\n"
                        + "print(len(rows))",
                    "files",
                    List.of(Map.of("id", fid, "session_id", sid, "name", "data.csv"))))
            .json();
    assertEquals("3\n", run.path("stdout").asText(), run.toString());
    JsonNode out = run.path("files").path(0);
    assertEquals("total.txt", out.path("name").asText(), run.toString());
    String runSid = run.path("session_id").asText();
    TestServer.Reply total = server.get("/download/" + runSid + "/" + out.path("id").asText());
    assertEquals(200, total.status(), total.body());
    assertEquals("6", total.body());
    return new String[] {sid, fid};
  }

  @Test
  @Order(1)
  void uploadRunAndDownloadWorkOnRedisAndS3() {
    uploadRunDownload(server);
    JsonNode health = server.get("/health/detailed").json();
    assertEquals("healthy", health.path("services").path("redis").path("status").asText());
    assertEquals("healthy", health.path("services").path("s3").path("status").asText());
    assertTrue(health.path("services").path("redis").has("response_time_ms"));
  }

  @Test
  @Order(2)
  void pythonVariablesSurviveBetweenRunsInRedis() {
    JsonNode first = server.exec("py", "x = 41").json();
    assertTrue(first.path("has_state").asBoolean(), first.toString());
    String sid = first.path("session_id").asText();
    assertEquals("redis", server.get("/state/" + sid + "/info").json().path("source").asText());
    JsonNode second =
        server.exec(Map.of("lang", "py", "code", "print(x + 1)", "session_id", sid)).json();
    assertEquals("42\n", second.path("stdout").asText(), second.toString());
  }

  @Test
  @Order(3)
  void whileRedisIsDownRequestsGet503AndAfterItReturnsNothingIsLost() {
    String[] before = uploadRunDownload(server);
    RedisServer redis = RedisServer.shared();
    redis.stop();
    try {
      assertUnavailable(server.exec("py", "print(1)"));
      assertUnavailable(server.upload("/upload", "late.csv", CSV, Map.of()));
      JsonNode cached = server.get("/health/detailed").json();
      assertEquals(
          "healthy",
          cached.path("services").path("redis").path("status").asText(),
          "the report of test 1, reused: " + cached);
      JsonNode health = server.get("/health/detailed?use_cache=false").json();
      assertEquals("unhealthy", health.path("services").path("redis").path("status").asText());
      assertTrue(
          Instant.parse(health.path("timestamp").asText())
              .isAfter(Instant.parse(cached.path("timestamp").asText())));
    } finally {
      redis.start();
    }
    // Back without a restart of the API, with the data stored before the fault.
    TestServer.Reply again = server.get("/download/" + before[0] + "/" + before[1]);
    assertEquals(200, again.status(), again.body());
    assertArrayEquals(CSV, again.raw().body());
    uploadRunDownload(server);
  }

  @Test
  @Order(4)
  void whileS3IsDownRequestsGet503AndAfterItReturnsNothingIsLost() {
    String[] before = uploadRunDownload(server);
    S3Server s3 = S3Server.shared();
    s3.stop();
    try {
      assertUnavailable(server.upload("/upload", "late.csv", CSV, Map.of("session_id", before[0])));
      assertUnavailable(server.get("/download/" + before[0] + "/" + before[1]));
      // A run that gets as far as storing what it wrote (bash: no state to load from S3).
      assertUnavailable(
          server.exec(
              Map.of("lang", "bash", "code", "echo x > late.txt", "session_id", before[0])));
      assertEquals(
          "unhealthy",
          server
              .get("/health/detailed?use_cache=false")
              .json()
              .path("services")
              .path("s3")
              .path("status")
              .asText());
    } finally {
      s3.start();
    }
    TestServer.Reply again = server.get("/download/" + before[0] + "/" + before[1]);
    assertEquals(200, again.status(), again.body());
    assertArrayEquals(CSV, again.raw().body());
    // The upload and the run refused during the fault left no file behind in their session.
    JsonNode files = server.get("/files/" + before[0] + "?detail=simple").json();
    assertTrue(files.size() > 0, files.toString());
    files.forEach(
        f ->
            assertFalse(
                List.of("late.csv", "late.txt").contains(f.path("name").asText()),
                files.toString()));
    // The failed run let go of its session: the next run of it does not wait for it.
    JsonNode next =
        server.exec(Map.of("lang", "bash", "code", "echo ok", "session_id", before[0])).json();
    assertEquals("ok\n", next.path("stdout").asText(), next.toString());
    uploadRunDownload(server);
  }

  /**
   * A multipart body that ends inside its file part: the upload's stream fails while the S3 store
   * reads it, and the client gets the 400 of a malformed body (not a 500, not a store outage).
   */
  @Test
  @Order(5)
  void anUploadWhoseBodyEndsInsideItsFileIsA400() {
    String body =
        "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.txt\"\r\n\r\n"
            + "x".repeat(100_000);
    TestServer.Reply r =
        server.send(
            server
                .request("/v1/upload")
                .header("Content-Type", "multipart/form-data; boundary=B")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofString(body)));
    JsonNode e = Errors.assertError(r, 400, "validation");
    assertEquals("invalid_multipart", e.path("details").get(0).path("code").asText(), r.body());
  }

  /**
   * A file whose record outlived its bytes (lost from S3): a run naming it goes on without it and
   * says so, as for a file not found, rather than a 503 that every retry would meet again
   * (LibreChat sends the files it tracks with every run of the conversation).
   */
  @Test
  @Order(6)
  void aRunNamingAFileWhoseBytesAreGoneRunsWithoutItAndSaysSo() throws Exception {
    JsonNode up = server.upload("/upload", "lost.csv", CSV, Map.of()).json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").path(0).path("fileId").asText();
    dev.kubecoderun.files.S3ObjectStore.create(server.config.s3())
        .delete(
            dev.kubecoderun.files.StoredFile.objectKey(
                sid, dev.kubecoderun.files.StoredFile.Kind.UPLOAD, fid));

    TestServer.Reply r =
        server.exec(
            Map.of(
                "lang",
                "py",
                "code",
                "import os\nprint(os.path.exists('lost.csv'))",
                "files",
                List.of(Map.of("id", fid, "session_id", sid, "name", "lost.csv"))));
    assertEquals(200, r.status(), r.body());
    assertEquals("False\n", r.json().path("stdout").asText(), r.body());
    assertTrue(
        r.json().path("stderr").asText().contains("input file 'lost.csv' was not found"), r.body());
  }

  private static void assertUnavailable(TestServer.Reply r) {
    Errors.assertError(r, 503, "service_unavailable");
    assertNotNull(r.header("Retry-After"), "503 carries Retry-After");
  }
}
