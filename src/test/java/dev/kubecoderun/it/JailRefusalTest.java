package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.kubecoderun.Application;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.testing.Eventually;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The real jail server refusing a sandbox (JailServer.create): here because every sandbox uid is
 * taken. The request that needed the sandbox gets a 503 in the one error shape saying why; the
 * pooled sandboxes go on serving.
 */
@Tag("integration")
class JailRefusalTest {
  private final HttpClient http = HttpClient.newHttpClient();

  private TestServer.Reply exec(Application app, String lang, String code)
      throws IOException, InterruptedException {
    HttpRequest req =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/exec"))
            .header("X-API-Key", TestServer.KEY)
            .header("Content-Type", "application/json")
            .timeout(Duration.ofSeconds(60))
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"lang\":\"" + lang + "\",\"code\":\"" + code + "\"}"))
            .build();
    HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
    return new TestServer.Reply(r.statusCode(), new String(r.body(), StandardCharsets.UTF_8), r);
  }

  @Test
  void aSandboxTheJailRefusesIsA503SayingWhyAndThePoolGoesOn() throws Exception {
    // The smallest uid range (16: the jail's own root uid and 15 for sandboxes), all 15 held by the
    // bash pool.
    try (Application app =
        StandaloneServer.start(
            Files.createTempDirectory("kcr-jail-refusal-"),
            Map.of(
                "SANDBOX_UID_COUNT", "16",
                "POD_POOL_BASH", "15",
                "POD_POOL_PARALLEL_BATCH", "4"))) {
      Eventually.await(
          "15 warm bash sandboxes",
          Duration.ofSeconds(120),
          () -> app.pool().readyCount(Language.BASH) == 15);

      // No pool for py: its sandbox is made on demand, and the jail has no uid left for it.
      TestServer.Reply refused = exec(app, "py", "print(1)");
      var error = Errors.assertError(refused, 503, "service_unavailable");
      assertEquals(
          "No sandbox available: the jail refused a sandbox: all 15 sandbox uids are in use",
          error.path("error").asText());
      assertNotNull(refused.header("Retry-After"), "a 503 says when to retry");

      // A pooled sandbox still runs (its replacement is refused until a uid is free again).
      TestServer.Reply ok = exec(app, "bash", "echo ok");
      assertEquals(200, ok.status(), ok.body());
      assertEquals("ok\n", ok.json().path("stdout").asText(), ok.body());
    }
  }
}
