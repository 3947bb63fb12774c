package dev.kubecoderun.sandbox.kubernetes;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.common.Json;
import io.kubernetes.client.openapi.ApiClient;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A stand-in for the Kubernetes API server on a free local port, answering every path with the
 * test's handler: for the unit tests of one class that talks to it, where a cluster is not needed.
 */
final class StandInApiServer implements AutoCloseable {
  private final HttpServer server;
  // Each request on its own thread: a watch held open must not block the calls after it.
  private final ExecutorService handlers = Executors.newVirtualThreadPerTaskExecutor();

  private StandInApiServer(HttpHandler handler) throws IOException {
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setExecutor(handlers);
    server.createContext("/", handler);
    server.start();
  }

  static StandInApiServer start(HttpHandler handler) throws IOException {
    return new StandInApiServer(handler);
  }

  /** A new client of this server (the client library's defaults: set its timeouts as needed). */
  ApiClient client() {
    ApiClient client = new ApiClient();
    client.setBasePath("http://127.0.0.1:" + server.getAddress().getPort());
    return client;
  }

  /** Answers {@code json} with {@code status}, as the API server does: JSON, then the end. */
  static void reply(HttpExchange exchange, int status, String json) throws IOException {
    byte[] body = json.getBytes(UTF_8);
    exchange.getResponseHeaders().add("Content-Type", "application/json");
    exchange.sendResponseHeaders(status, body.length);
    exchange.getResponseBody().write(body);
    exchange.close();
  }

  /** The API server's body for a call it failed with {@code code} (404, 409, 503...). */
  static String failure(int code) {
    return Json.writeString(status(code));
  }

  /** The same, with the API server's (or an admission step's) {@code message} saying why. */
  static String failure(int code, String message) {
    Map<String, Object> status = status(code);
    status.put("message", message);
    return Json.writeString(status);
  }

  private static Map<String, Object> status(int code) {
    Map<String, Object> status = new LinkedHashMap<>();
    status.put("apiVersion", "v1");
    status.put("kind", "Status");
    status.put("status", "Failure");
    status.put("code", code);
    return status;
  }

  @Override
  public void close() {
    server.stop(0);
    handlers.shutdownNow();
  }
}
