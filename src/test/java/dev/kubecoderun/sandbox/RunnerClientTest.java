package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** RunnerClient against a stand-in runner (a JDK HttpServer speaking the protocol's shapes). */
class RunnerClientTest {
  private HttpServer server;
  private RunnerClient client;

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/health", ex -> reply(ex, 200, "{\"status\":\"ok\",\"warm\":{\"py\":true}}"));
    server.createContext(
        "/execute",
        ex -> {
          boolean authorized =
              "Bearer t0ken".equals(ex.getRequestHeaders().getFirst("Authorization"));
          reply(
              ex,
              authorized ? 200 : 401,
              authorized
                  ? "{\"exit_code\":0,\"stdout\":\"1\\n\",\"stderr\":\"\",\"duration_ms\":1.5,"
                      + "\"files\":[{\"path\":\"a b/c.txt\",\"size\":3,\"mtime\":1,\"change\":\"created\"}]}"
                  : "{\"error\":\"unauthorized\"}");
        });
    server.start();
    // A short read timeout, so the idle pause below outlives it.
    WebClient http = WebClient.builder().readTimeout(Duration.ofMillis(300)).build();
    client =
        new RunnerClient(
            http, URI.create("http://127.0.0.1:" + server.getAddress().getPort()), "t0ken");
  }

  @AfterEach
  void stop() {
    server.stop(0);
  }

  private static void reply(com.sun.net.httpserver.HttpExchange ex, int status, String body)
      throws IOException {
    ex.getRequestBody().readAllBytes();
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().add("Content-Type", "application/json");
    ex.sendResponseHeaders(status, b.length);
    ex.getResponseBody().write(b);
    ex.close();
  }

  @Test
  void executesAfterTheSandboxSatIdleLongerThanTheReadTimeout() throws Exception {
    assertTrue(client.healthy("py"));
    Thread.sleep(1000);
    RunnerResult r =
        client.execute(
            new RunnerRequest("py", "print(1)", 1000, List.of(), null, false),
            Duration.ofSeconds(5));
    assertEquals("1\n", r.stdout());
    assertEquals(
        List.of(new RunnerResult.ChangedFile("a b/c.txt", 3, 1, "created")), r.changedFiles());
  }

  @Test
  void aRefusedExecuteIsASandboxFailure() {
    RunnerClient wrongToken = new RunnerClient(WebClient.builder().build(), client.base(), "wrong");
    SandboxException e =
        org.junit.jupiter.api.Assertions.assertThrows(
            SandboxException.class,
            () ->
                wrongToken.execute(
                    new RunnerRequest("py", "1", 1000, null, null, false), Duration.ofSeconds(5)));
    assertTrue(e.getMessage().contains("401"), e.getMessage());
  }
}
