package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.Application;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.testing.Eventually;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A stop lets running executions finish, starts none it would kill (those that come or wait
 * meanwhile get 503 at once), then leaves no sandbox process or folder behind.
 */
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

  /**
   * While a stop waits for a run in progress, runs that come (or were waiting for its only slot)
   * get 503 with Retry-After in the one error shape at once, long before the grace period ends, and
   * the run in progress finishes with 200. The run in progress ends only when the test lets it (a
   * file it waits for), after the other answers came.
   */
  @Test
  void aStopRefusesNewRunsAtOnceWhileTheRunInProgressFinishes() throws Exception {
    Path data = Files.createTempDirectory("kcr-shutdown-");
    Application app =
        StandaloneServer.start(
            data,
            Map.of(
                "MAX_CONCURRENT_EXECUTIONS", "1",
                "EXECUTION_QUEUE_TIMEOUT_SECONDS", "300",
                "SHUTDOWN_GRACE_SECONDS", "300"));
    HttpClient http = HttpClient.newHttpClient();
    URI base = URI.create("http://127.0.0.1:" + app.port());
    CompletableFuture<HttpResponse<String>> inProgress =
        http.sendAsync(
            exec(base, "touch started; while [ ! -e go ]; do sleep 0.05; done; echo finished"),
            HttpResponse.BodyHandlers.ofString());
    Path sandboxes = data.resolve("sandboxes");
    Path[] workdir = new Path[1];
    Eventually.await(
        "the run in progress",
        Duration.ofSeconds(30),
        () -> {
          workdir[0] = startedWorkdir(sandboxes);
          return workdir[0] != null;
        });
    // Waits for the only slot (or, sent late, is refused as any run after the stop began).
    CompletableFuture<HttpResponse<String>> waiting =
        http.sendAsync(exec(base, "echo waited"), HttpResponse.BodyHandlers.ofString());

    // The stop blocks until the run ends: on a thread of its own, not the common pool's (the
    // client completes its answers there, and a 2-core machine's common pool has one thread).
    ExecutorService stopper = Executors.newVirtualThreadPerTaskExecutor();
    Future<?> stop = stopper.submit(app::close);
    Eventually.await(
        "/ready refusing", Duration.ofSeconds(30), () -> status(http, base, "/ready") == 503);
    HttpResponse<String> late =
        http.send(exec(base, "echo late"), HttpResponse.BodyHandlers.ofString());
    HttpResponse<String> waited = waiting.get(60, TimeUnit.SECONDS);

    for (HttpResponse<String> refused : List.of(late, waited)) {
      assertEquals(503, refused.statusCode(), refused.body());
      assertTrue(refused.headers().firstValue("Retry-After").isPresent(), refused.body());
      JsonNode error = Json.MAPPER.readTree(refused.body());
      assertEquals("service_unavailable", error.path("error_type").asText(), refused.body());
      assertEquals("The service is shutting down; retry", error.path("error").asText());
    }
    assertTrue(!inProgress.isDone() && !stop.isDone(), "the run in progress still runs");

    Files.createFile(workdir[0].resolve("go"));
    HttpResponse<String> r = inProgress.get(60, TimeUnit.SECONDS);
    assertEquals(200, r.statusCode(), r.body());
    assertTrue(r.body().contains("\"stdout\":\"finished\\n\""), r.body());
    stop.get(60, TimeUnit.SECONDS);
    stopper.close();
  }

  private static HttpRequest exec(URI base, String bash) {
    return HttpRequest.newBuilder(base.resolve("/exec"))
        .header("X-API-Key", TestServer.KEY)
        .header("Content-Type", "application/json")
        .timeout(Duration.ofSeconds(120))
        .POST(
            HttpRequest.BodyPublishers.ofString(
                Json.writeString(Map.of("lang", "bash", "code", bash))))
        .build();
  }

  private static int status(HttpClient http, URI base, String path) {
    try {
      return http.send(
              HttpRequest.newBuilder(base.resolve(path)).GET().build(),
              HttpResponse.BodyHandlers.discarding())
          .statusCode();
    } catch (IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  /**
   * The /mnt/data of the sandbox whose run marked its start there, as root sees it (through the
   * holder's /proc/PID/root), or null.
   */
  private static Path startedWorkdir(Path sandboxes) {
    return ProcessHandle.allProcesses()
        .filter(
            p -> p.info().commandLine().map(c -> c.contains(sandboxes.toString())).orElse(false))
        .flatMap(p -> SandboxHolders.among(p.descendants()))
        .map(h -> Path.of("/proc/" + h.pid() + "/root/mnt/data"))
        .filter(d -> Files.exists(d.resolve("started")))
        .findFirst()
        .orElse(null);
  }
}
