package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.Eventually;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** GET /metrics: behind the master key, in the Prometheus text format, with the service's names. */
@Tag("integration")
class MetricsTest {
  private final TestServer server = TestServer.get();

  private String scrape() {
    TestServer.Reply r =
        server.send(
            HttpRequest.newBuilder(server.base.resolve("/metrics"))
                .header("Authorization", "Bearer " + TestServer.MASTER));
    assertEquals(200, r.status(), r.body());
    assertTrue(
        r.header("Content-Type").startsWith("text/plain; version=0.0.4"), r.header("Content-Type"));
    return r.body();
  }

  /** The value of the first sample whose name and labels match {@code regex}, else -1. */
  private static double sample(String text, String regex) {
    Matcher m = Pattern.compile("(?m)^" + regex + " ([0-9.eE+-]+)$").matcher(text);
    return m.find() ? Double.parseDouble(m.group(1)) : -1;
  }

  private TestServer.Reply withToken(String path, String token) {
    return server.send(
        HttpRequest.newBuilder(server.base.resolve(path))
            .header("Authorization", "Bearer " + token));
  }

  @Test
  void theMetricsTokenOrTheMasterKeyReadsTheMetrics() {
    Errors.assertError(
        server.send(HttpRequest.newBuilder(server.base.resolve("/metrics"))),
        401,
        "authentication");
    // API keys, whoever holds them: clients, not the operator's monitoring.
    Errors.assertError(server.get("/metrics"), 403, "authorization");
    Errors.assertError(withToken("/metrics", TestServer.KEY2), 403, "authorization");
    TestServer.Reply byToken = withToken("/metrics", TestServer.METRICS);
    assertEquals(200, byToken.status(), byToken.body());
    assertTrue(byToken.body().contains("http_server_requests_seconds_count"));
    assertEquals(
        200,
        server
            .send(
                HttpRequest.newBuilder(server.base.resolve("/metrics"))
                    .header("X-API-Key", TestServer.METRICS))
            .status());
    assertEquals(200, withToken("/metrics", TestServer.MASTER).status(), "the operator's curl");
  }

  /** What Prometheus holds opens nothing but the metrics: no admin route, no API route. */
  @Test
  void theMetricsTokenOpensNothingElse() {
    for (String admin :
        List.of("/api/v1/admin/keys", "/api/v1/admin/stats", "/v1/api/v1/admin/keys")) {
      Errors.assertError(withToken(admin, TestServer.METRICS), 403, "authorization");
    }
    TestServer.Reply create =
        server.send(
            HttpRequest.newBuilder(server.base.resolve("/api/v1/admin/keys"))
                .header("Authorization", "Bearer " + TestServer.METRICS)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"by the metrics token\"}")));
    Errors.assertError(create, 403, "authorization");
    for (String route : List.of("/languages", "/v1/languages", "/health/detailed")) {
      int status = withToken(route, TestServer.METRICS).status();
      assertTrue(status == 401 || status == 403, route + ": " + status);
    }
  }

  @Test
  void requestsExecutionsPoolsFilesAndTheJvmAreMeasured() throws InterruptedException {
    assertEquals(200, server.exec("py", "print(1)").status());
    assertEquals(200, server.exec("py", "raise SystemExit(2)").status());
    TestServer.Reply up = server.upload("m.txt", "hello metrics");
    assertEquals(200, up.status());
    String sid = up.json().get("session_id").asText();
    String fid = up.json().at("/files/0/fileId").asText();
    assertEquals(200, server.get("/download/" + sid + "/" + fid).status());
    assertEquals(404, server.get("/v1/no-such-route/" + sid).status());

    // A request is counted just after its answer is sent: wait for the last one's.
    String text =
        Eventually.until(
            "the 404 counted",
            Duration.ofSeconds(10),
            this::scrape,
            t ->
                sample(
                        t,
                        "http_server_requests_seconds_count\\{method=\"GET\",route=\"unmatched\",status=\"404\"\\}")
                    >= 1);
    assertTrue(
        sample(
                text,
                "http_server_requests_seconds_count\\{method=\"POST\",route=\"/exec\",status=\"200\"\\}")
            >= 2,
        "requests by route template and status");
    assertTrue(
        sample(
                text,
                "http_server_requests_seconds_count\\{method=\"GET\",route=\"/download/\\{session_id\\}/\\{file_id\\}\",status=\"200\"\\}")
            >= 1,
        "a template, never a raw path");
    assertTrue(!text.contains(sid), "no session id in any label");
    assertTrue(
        sample(
                text,
                "http_server_requests_seconds_count\\{method=\"GET\",route=\"unmatched\",status=\"404\"\\}")
            >= 1,
        "unknown paths share one label value");
    assertTrue(
        sample(text, "kubecoderun_executions_seconds_count\\{language=\"py\",outcome=\"ok\"\\}")
            >= 1);
    assertTrue(
        sample(text, "kubecoderun_executions_seconds_count\\{language=\"py\",outcome=\"error\"\\}")
            >= 1);
    // Buckets from 1 ms to 60 s.
    assertTrue(
        sample(
                text,
                "kubecoderun_executions_seconds_bucket\\{language=\"py\",outcome=\"ok\",le=\"0\\.001\"\\}")
            >= 0);
    assertTrue(
        sample(
                text,
                "kubecoderun_executions_seconds_bucket\\{language=\"py\",outcome=\"ok\",le=\"60\\.0\"\\}")
            >= 1);
    assertTrue(
        sample(
                text,
                "kubecoderun_sandbox_wait_seconds_count\\{language=\"py\",source=\"[a-z]+\"\\}")
            >= 1);
    assertTrue(sample(text, "kubecoderun_execution_slot_wait_seconds_count") >= 2);
    assertEquals(1, sample(text, "kubecoderun_pool_size\\{language=\"py\"\\}"));
    for (String g : List.of("ready", "in_use", "starting")) {
      assertTrue(sample(text, "kubecoderun_pool_" + g + "\\{language=\"py\"\\}") >= 0, g);
    }
    assertTrue(
        sample(
                text,
                "kubecoderun_sandbox_start_seconds_count\\{kind=\"warm\",language=\"py\",outcome=\"ok\"\\}")
            >= 1);
    assertTrue(sample(text, "kubecoderun_files_uploaded_total") >= 1);
    assertTrue(sample(text, "kubecoderun_files_uploaded_bytes_total") >= 13);
    assertTrue(sample(text, "kubecoderun_files_downloaded_total") >= 1);
    assertTrue(sample(text, "kubecoderun_files_downloaded_bytes_total") >= 13);
    assertTrue(sample(text, "kubecoderun_execution_slots_capacity") >= 1);
    for (String jvm :
        List.of(
            "jvm_memory_used_bytes\\{area=\"heap\",id=\"[^\"]+\"\\}",
            "jvm_threads_live_threads",
            "process_uptime_seconds",
            "process_cpu_usage",
            "process_files_open_files")) {
      assertTrue(sample(text, jvm) >= 0, jvm);
    }
  }

  /**
   * Any token is a valid HTTP method: requests with invented ones, without a key, all land in one
   * OTHER series instead of adding one each (without limit, to the heap and every scrape).
   */
  @Test
  void inventedMethodsShareOneSeries() throws IOException, InterruptedException {
    String tag = Long.toString(System.nanoTime(), 36).toUpperCase();
    double before = otherCount(scrape());
    for (int i = 0; i < 5; i++) {
      String status = rawRequest("M" + tag + i + " /health HTTP/1.1\r\nHost: x\r\n\r\n");
      assertTrue(status.startsWith("HTTP/1.1 "), status);
    }
    Eventually.await(
        "five requests in the OTHER series",
        Duration.ofSeconds(10),
        () -> otherCount(scrape()) >= before + 5);
    String text = scrape();
    assertTrue(!text.contains("M" + tag), "no series named after an invented method");
  }

  /** All requests in OTHER series, whatever their route and status. */
  private static double otherCount(String text) {
    Matcher m =
        Pattern.compile("(?m)^http_server_requests_seconds_count\\{method=\"OTHER\",[^}]*} (\\S+)$")
            .matcher(text);
    double sum = 0;
    while (m.find()) {
      sum += Double.parseDouble(m.group(1));
    }
    return sum;
  }

  /** Sends {@code request} as is and answers the status line. */
  private String rawRequest(String request) throws IOException {
    try (Socket s = new Socket()) {
      s.connect(new InetSocketAddress("127.0.0.1", server.app.port()), 5000);
      s.setSoTimeout(10_000);
      s.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
      InputStream in = s.getInputStream();
      StringBuilder line = new StringBuilder();
      for (int c = in.read(); c != -1 && c != '\n'; c = in.read()) {
        line.append((char) c);
      }
      return line.toString().strip();
    }
  }

  @Test
  void refusalsOfRateLimitsAreCounted() {
    String key =
        AdminApiTest.adminJson(
                server,
                "POST",
                "/api/v1/admin/keys",
                "{\"name\":\"metrics limited\",\"rate_limits\":{\"per_minute\":1}}")
            .json()
            .get("api_key")
            .asText();
    double before = Math.max(0, sample(scrape(), "kubecoderun_rate_limit_refusals_total"));
    for (int i = 0; i < 3; i++) {
      server.send(
          HttpRequest.newBuilder(server.base.resolve("/languages")).header("X-API-Key", key));
    }
    assertEquals(before + 2, sample(scrape(), "kubecoderun_rate_limit_refusals_total"));
    assertTrue(
        sample(
                scrape(),
                "http_server_requests_seconds_count\\{method=\"GET\",route=\"/languages\",status=\"429\"\\}")
            >= 2);
  }
}
