package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.stores.RedisServer;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * Two /exec at once in one session, as LibreChat agents call tools in parallel: they run one after
 * the other, so each sees the Python state the other left and neither's variables or files are
 * lost; on the embedded store and on Redis.
 */
@Tag("integration")
class ConcurrentRunsTest {
  private final ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor();

  @Test
  void twoRunsAtOnceInOneSessionKeepBothVariablesAndFilesEmbedded() {
    bothRunsCount(TestServer.get());
  }

  @Test
  void twoRunsAtOnceInOneSessionKeepBothVariablesAndFilesOnRedis() {
    bothRunsCount(TestServer.withRealStores());
  }

  private void bothRunsCount(TestServer server) {
    String sid = server.exec("py", "start = 0").json().path("session_id").asText();
    CompletableFuture<TestServer.Reply> a =
        CompletableFuture.supplyAsync(
            () ->
                run(
                    server,
                    sid,
                    "import time\ntime.sleep(1)\na = 1\nopen('a.txt', 'w').write('A')"),
            clients);
    CompletableFuture<TestServer.Reply> b =
        CompletableFuture.supplyAsync(
            () -> run(server, sid, "b = 2\nopen('b.txt', 'w').write('B')"), clients);
    JsonNode ra = ok(a.join());
    JsonNode rb = ok(b.join());
    assertEquals("a.txt", ra.path("files").path(0).path("name").asText(), ra.toString());
    assertEquals("b.txt", rb.path("files").path(0).path("name").asText(), rb.toString());

    JsonNode after = ok(run(server, sid, "print(start, a, b)"));
    assertEquals("0 1 2\n", after.path("stdout").asText(), "a run lost the other's state");
    for (JsonNode r : List.of(ra, rb)) {
      JsonNode f = r.path("files").path(0);
      String body = server.get("/download/" + sid + "/" + f.path("id").asText()).body();
      assertEquals(f.path("name").asText().equals("a.txt") ? "A" : "B", body);
    }
  }

  /**
   * A run that waits longer than SESSION_QUEUE_TIMEOUT_SECONDS (8 s on this test server) for the
   * one before it is refused with 409 and Retry-After; the run before it is unaffected.
   */
  @Test
  void aRunWaitingTooLongForItsSessionIsAConflict() throws Exception {
    TestServer server = TestServer.withRealStores();
    String sid = server.exec("py", "n = 0").json().path("session_id").asText();
    CompletableFuture<TestServer.Reply> first =
        CompletableFuture.supplyAsync(
            () -> run(server, sid, "import time\ntime.sleep(14)\nn = 1"), clients);
    // Send the second run only once the first holds the session.
    try (Jedis redis = new Jedis(URI.create(RedisServer.shared().url()))) {
      Instant deadline = Instant.now().plusSeconds(30);
      while (!redis.exists("kcr-e2e:session_lock:" + sid)) {
        assertTrue(Instant.now().isBefore(deadline), "the first run never took the session");
        Thread.sleep(10);
      }
    }
    long start = System.nanoTime();
    TestServer.Reply second = run(server, sid, "n = 2");
    long waited = Duration.ofNanos(System.nanoTime() - start).toSeconds();
    assertEquals(409, second.status(), second.body());
    assertEquals("resource_conflict", second.json().path("error_type").asText());
    assertTrue(second.json().path("error").asText().contains(sid), second.body());
    assertEquals("5", second.header("Retry-After"));
    assertTrue(waited >= 7 && waited < 14, "gave up after " + waited + " s");

    ok(first.join());
    assertEquals("1\n", ok(run(server, sid, "print(n)")).path("stdout").asText());
  }

  /**
   * A state uploaded while a run of the session is in progress waits for the run, so the run's end
   * does not silently undo it: the next run sees the uploaded state.
   */
  @Test
  void aStateUploadedDuringARunTakesItsTurnAfterIt() throws Exception {
    TestServer server = TestServer.withRealStores();
    String other = server.exec("py", "x = 42").json().path("session_id").asText();
    byte[] uploaded = server.get("/state/" + other).raw().body();
    String sid = server.exec("py", "n = 0").json().path("session_id").asText();
    CompletableFuture<TestServer.Reply> running =
        CompletableFuture.supplyAsync(
            () -> run(server, sid, "import time\ntime.sleep(3)\nn = 1"), clients);
    try (Jedis redis = new Jedis(URI.create(RedisServer.shared().url()))) {
      Instant deadline = Instant.now().plusSeconds(30);
      while (!redis.exists("kcr-e2e:session_lock:" + sid)) {
        assertTrue(Instant.now().isBefore(deadline), "the run never took the session");
        Thread.sleep(10);
      }
    }
    TestServer.Reply posted =
        server.send(
            server
                .request("/state/" + sid)
                .header("Content-Type", "application/octet-stream")
                .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(uploaded)));
    assertEquals(201, posted.status(), posted.body());
    ok(running.join());
    assertEquals("42\n", ok(run(server, sid, "print(x)")).path("stdout").asText());
  }

  private static TestServer.Reply run(TestServer server, String sid, String code) {
    return server.exec(Map.of("lang", "py", "code", code, "session_id", sid));
  }

  private static JsonNode ok(TestServer.Reply reply) {
    assertEquals(200, reply.status(), reply.body());
    JsonNode json = reply.json();
    assertEquals("ok", json.path("status").asText(), json.toString());
    return json;
  }
}
