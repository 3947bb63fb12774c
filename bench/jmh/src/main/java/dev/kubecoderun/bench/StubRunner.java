package dev.kubecoderun.bench;

import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxFactory;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Executors;

/**
 * A runner that answers at once with canned bytes, in the benchmark's JVM: what is measured around
 * it is the API's own work (and this stub's, which is small: no parsing, one canned answer).
 */
public final class StubRunner implements AutoCloseable {
  /** {@code print(1)}'s answer, as the runner sends it. */
  static final byte[] PRINT =
      ("{\"exit_code\":0,\"signal\":null,\"timed_out\":false,\"stdout\":\"1\\n\",\"stderr\":\"\","
              + "\"stdout_truncated\":false,\"stderr_truncated\":false,\"duration_ms\":1.2,"
              + "\"files\":[],\"deleted\":[]}")
          .getBytes(StandardCharsets.UTF_8);

  /** An answer with one created file, plot.png, served by GET /files/plot.png. */
  static final byte[] PLOT =
      ("{\"exit_code\":0,\"signal\":null,\"timed_out\":false,\"stdout\":\"50\\n\",\"stderr\":\"\","
              + "\"stdout_truncated\":false,\"stderr_truncated\":false,\"duration_ms\":60.5,"
              + "\"files\":[{\"path\":\"plot.png\",\"size\":20000,\"mtime\":1763773200.1,"
              + "\"change\":\"created\"}],\"deleted\":[]}")
          .getBytes(StandardCharsets.UTF_8);

  static final byte[] PNG = new byte[20000];

  private final HttpServer server;
  private volatile byte[] answer = PRINT;

  public StubRunner() throws IOException {
    // Like the Go runner (TCP_NODELAY is Go's default): without it the answer's body waits for the
    // API's delayed ACK of its headers, tens of milliseconds.
    System.setProperty("sun.net.httpserver.nodelay", "true");
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 64);
    server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
    server.createContext(
        "/",
        ex -> {
          try (InputStream in = ex.getRequestBody()) {
            in.transferTo(OutputStream.nullOutputStream());
          }
          String path = ex.getRequestURI().getPath();
          byte[] body;
          int status = 200;
          if (path.equals("/execute")) {
            body = answer;
          } else if (ex.getRequestMethod().equals("PUT")) {
            status = 201;
            body = "{}".getBytes(StandardCharsets.UTF_8);
          } else if (path.startsWith("/files/")) {
            body = PNG;
          } else {
            body = "{\"status\":\"ok\"}".getBytes(StandardCharsets.UTF_8);
          }
          ex.sendResponseHeaders(status, body.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
          }
        });
    server.start();
  }

  void answerWith(byte[] answer) {
    this.answer = answer;
  }

  URI base() {
    return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
  }

  /** A backend whose sandboxes are this stub: creating one costs nothing. */
  SandboxFactory factory() {
    WebClient http =
        WebClient.builder()
            .connectTimeout(Duration.ofSeconds(5))
            .socketOptions(o -> o.tcpNoDelay(true))
            .build();
    return new SandboxFactory() {
      @Override
      public Sandbox create(Language language, boolean warm) {
        RunnerClient client = new RunnerClient(http, base(), "stub-token");
        return new Sandbox() {
          @Override
          public String id() {
            return "stub";
          }

          @Override
          public Language language() {
            return language;
          }

          @Override
          public RunnerClient runner() {
            return client;
          }

          @Override
          public boolean isAlive() {
            return true;
          }

          @Override
          public void onExit(Runnable callback) {}

          @Override
          public void close() {}
        };
      }

      @Override
      public String name() {
        return "stub";
      }
    };
  }

  @Override
  public void close() {
    server.stop(0);
  }
}
