package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.Application;
import dev.kubecoderun.testing.Eventually;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** A stop lets running executions finish, then leaves no sandbox process or folder behind. */
@Tag("integration")
class ShutdownTest {
  @Test
  void runningExecutionsFinishAndEverySandboxIsDestroyed() throws Exception {
    Path data = Files.createTempDirectory("kcr-shutdown-");
    Application app = StandaloneServer.start(data, Map.of("POD_POOL_PY", "1", "POD_POOL_JS", "1"));
    HttpClient http = HttpClient.newHttpClient();
    HttpRequest slow =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/exec"))
            .header("X-API-Key", TestServer.KEY)
            .header("Content-Type", "application/json")
            .timeout(Duration.ofSeconds(60))
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"lang\":\"bash\",\"code\":\"touch started; sleep 2; echo finished\"}"))
            .build();
    CompletableFuture<HttpResponse<String>> inFlight =
        http.sendAsync(slow, HttpResponse.BodyHandlers.ofString());
    Path sandboxes = data.resolve("sandboxes");
    // The code marks its own start in its /mnt/data, which only its jail sees: root finds it
    // through
    // /proc/<holder>/root of the sandboxes' holders (the jail server's children).
    Eventually.await(
        "the execution running",
        Duration.ofSeconds(30),
        () ->
            ProcessHandle.allProcesses()
                .filter(
                    p ->
                        p.info()
                            .commandLine()
                            .map(c -> c.contains(sandboxes.toString()))
                            .orElse(false))
                .flatMap(p -> SandboxHolders.among(p.descendants()))
                .anyMatch(
                    h -> Files.exists(Path.of("/proc/" + h.pid() + "/root/mnt/data/started"))));

    app.close();

    HttpResponse<String> r = inFlight.get();
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.body().contains("\"stdout\":\"finished\\n\""), r.body());
    try (var left = Files.list(sandboxes)) {
      assertEquals(
          0,
          left.filter(p -> !p.getFileName().toString().equals(".etc")).count(),
          "sandbox folders left");
    }
    long runners =
        ProcessHandle.allProcesses()
            .filter(
                p ->
                    p.info().commandLine().map(c -> c.contains(sandboxes.toString())).orElse(false))
            .count();
    assertEquals(0, runners, "runner processes left");
  }
}
