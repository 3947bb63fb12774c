package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.Application;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.testing.Eventually;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

@Tag("integration")
class CapacityAndRestartTest {
  private final HttpClient http = HttpClient.newHttpClient();

  private HttpRequest exec(Application app, String json) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/exec"))
        .header("X-API-Key", TestServer.KEY)
        .header("Content-Type", "application/json")
        .timeout(Duration.ofSeconds(60))
        .POST(HttpRequest.BodyPublishers.ofString(json))
        .build();
  }

  private TestServer.Reply send(HttpRequest req) throws IOException, InterruptedException {
    HttpResponse<byte[]> r = http.send(req, HttpResponse.BodyHandlers.ofByteArray());
    return new TestServer.Reply(r.statusCode(), new String(r.body(), StandardCharsets.UTF_8), r);
  }

  @Test
  void overTheExecutionCapRequestsWaitThenGet503WithRetryAfter() throws Exception {
    Application app =
        StandaloneServer.start(
            Files.createTempDirectory("kcr-cap-"),
            Map.of("MAX_CONCURRENT_EXECUTIONS", "1", "EXECUTION_QUEUE_TIMEOUT_SECONDS", "1"));
    try {
      CompletableFuture<HttpResponse<String>> busy =
          http.sendAsync(
              exec(app, "{\"lang\":\"bash\",\"code\":\"sleep 4; echo done\"}"),
              HttpResponse.BodyHandlers.ofString());
      awaitRunning(app, 1);
      TestServer.Reply refused = send(exec(app, "{\"lang\":\"bash\",\"code\":\"echo hi\"}"));
      Errors.assertError(refused, 503, "service_unavailable");
      assertNotNull(refused.header("Retry-After"));
      assertEquals(200, busy.get().statusCode());
    } finally {
      app.close();
    }
  }

  private void awaitRunning(Application app, int n) throws Exception {
    HttpRequest health =
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + app.port() + "/health/detailed?use_cache=false"))
            .header("X-API-Key", TestServer.KEY)
            .build();
    Eventually.await(
        n + " running executions",
        Duration.ofSeconds(30),
        () -> {
          try {
            return send(health)
                    .json()
                    .path("services")
                    .path("sandbox")
                    .path("details")
                    .path("executions_running")
                    .asInt()
                == n;
          } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
          }
        });
  }

  @Test
  void filesSessionsAndStateSurviveARestart() throws Exception {
    Path data = Files.createTempDirectory("kcr-restart-");
    Application first = StandaloneServer.start(data, Map.of());
    String sid;
    String fid;
    try {
      JsonNode r =
          send(exec(
                  first,
                  "{\"lang\":\"py\",\"code\":\"kept = 7\\nopen('out.txt','w').write('x')\"}"))
              .json();
      sid = r.path("session_id").asText();
      fid = r.path("files").get(0).path("id").asText();
    } finally {
      first.close();
    }
    Application second = StandaloneServer.start(data, Map.of());
    try {
      HttpRequest download =
          HttpRequest.newBuilder(
                  URI.create("http://127.0.0.1:" + second.port() + "/download/" + sid + "/" + fid))
              .header("X-API-Key", TestServer.KEY)
              .build();
      TestServer.Reply file = send(download);
      assertEquals(200, file.status(), file.body());
      assertEquals("x", file.body());
      JsonNode run =
          send(exec(
                  second,
                  Json.writeString(Map.of("lang", "py", "code", "print(kept)", "session_id", sid))))
              .json();
      assertEquals("7\n", run.path("stdout").asText(), run.toString());
    } finally {
      second.close();
    }
  }
}
