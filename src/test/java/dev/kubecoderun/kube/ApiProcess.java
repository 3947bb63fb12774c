package dev.kubecoderun.kube;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The API as its own JVM (dev.kubecoderun.Main), so a test can really kill it (SIGKILL: no shutdown
 * hook runs) or stop it (SIGTERM: the graceful shutdown).
 */
final class ApiProcess {
  static final String KEY = "kubernetes-test-key-0123456789";

  final Process process;
  final URI base;
  final Path log;
  private final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private ApiProcess(Process process, URI base, Path log) {
    this.process = process;
    this.base = base;
    this.log = log;
  }

  /** Starts the API and waits until it is ready (/ready answers 200). */
  static ApiProcess start(Map<String, String> env) throws IOException, InterruptedException {
    return start(env, "/ready");
  }

  /** Starts the API and waits until it listens (/health), ready or not. */
  static ApiProcess startListening(Map<String, String> env)
      throws IOException, InterruptedException {
    return start(env, "/health");
  }

  private static ApiProcess start(Map<String, String> env, String until)
      throws IOException, InterruptedException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    Path data = Files.createTempDirectory("kcr-k8s-api-");
    Path log = data.resolve("api.log");
    String java = ProcessHandle.current().info().command().orElse("java");
    ProcessBuilder pb =
        new ProcessBuilder(
                java, "-cp", System.getProperty("java.class.path"), "dev.kubecoderun.Main")
            .redirectErrorStream(true)
            .redirectOutput(log.toFile());
    Map<String, String> e = pb.environment();
    e.clear();
    e.put("PATH", System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
    e.put("API_KEY", KEY);
    e.put("API_HOST", "127.0.0.1");
    e.put("API_PORT", Integer.toString(port));
    e.put("DATA_DIR", data.toString());
    e.put("LOG_FORMAT", "text");
    e.put("SHUTDOWN_GRACE_SECONDS", "5");
    e.putAll(env);
    ApiProcess api = new ApiProcess(pb.start(), URI.create("http://127.0.0.1:" + port), log);
    api.await(until);
    return api;
  }

  private void await(String path) throws InterruptedException, IOException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new AssertionError("API exited at start:\n" + Files.readString(log));
      }
      try {
        if (get(path).statusCode() == 200) {
          return;
        }
      } catch (IOException e) {
        // not listening yet
      }
      Thread.sleep(100);
    }
    throw new AssertionError("API: no 200 from " + path + " in 90 s:\n" + Files.readString(log));
  }

  HttpResponse<String> get(String path) throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(base.resolve(path)).header("X-API-Key", KEY).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** POST /v1/exec; fails with the API's log when the answer is not 200. */
  JsonNode exec(String lang, String code) throws IOException, InterruptedException {
    HttpResponse<String> r = execResponse(lang, code);
    if (r.statusCode() != 200) {
      throw new AssertionError(
          "exec " + lang + " -> " + r.statusCode() + " " + r.body() + "\nAPI log:\n" + logTail());
    }
    return Json.tree(r.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  /** POST /v1/exec, whatever the answer. */
  HttpResponse<String> execResponse(String lang, String code)
      throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(base.resolve("/v1/exec"))
            .header("X-API-Key", KEY)
            .header("Content-Type", "application/json")
            .timeout(Duration.ofSeconds(120))
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    Json.writeString(Map.of("lang", lang, "code", code))))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** POST /v1/exec with any body; fails with the API's log when the answer is not 200. */
  JsonNode exec(Map<String, Object> body) throws IOException, InterruptedException {
    HttpResponse<String> r =
        http.send(
            HttpRequest.newBuilder(base.resolve("/v1/exec"))
                .header("X-API-Key", KEY)
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(Json.writeString(body)))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new AssertionError(
          "exec -> " + r.statusCode() + " " + r.body() + "\nAPI log:\n" + logTail());
    }
    return Json.tree(r.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }

  /** GET, the body as bytes. */
  HttpResponse<byte[]> getBytes(String path) throws IOException, InterruptedException {
    return http.send(
        HttpRequest.newBuilder(base.resolve(path)).header("X-API-Key", KEY).GET().build(),
        HttpResponse.BodyHandlers.ofByteArray());
  }

  String logTail() {
    try {
      String s = Files.readString(log);
      return s.length() > 6000 ? s.substring(s.length() - 6000) : s;
    } catch (IOException e) {
      return "(no log)";
    }
  }

  /** SIGKILL: nothing of the API's shutdown runs, like a crashed or OOM-killed pod. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  /** SIGTERM: the graceful shutdown. */
  void close() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(60, TimeUnit.SECONDS)) {
      process.destroyForcibly();
      throw new AssertionError("API did not stop within 60 s on SIGTERM");
    }
  }
}
