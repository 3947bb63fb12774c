package dev.kubecoderun.sandbox.kubernetes;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.testing.Eventually;
import io.helidon.health.HealthCheckResponse;
import io.kubernetes.client.openapi.ApiClient;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A pod watch can stay "synced" on a connection dropped without a reset, showing nothing new: the
 * health check is down once a pod this API created is not shown in time, though the API server
 * answers. The API server here is a stand-in with no pods, whose watches stay open and quiet.
 */
class KubernetesHealthCheckTest {
  private HttpServer apiServer;
  private ExecutorService handlers;
  private final CountDownLatch stopping = new CountDownLatch(1);
  private PodWatcher watcher;
  private KubernetesHealthCheck check;

  @BeforeEach
  void startApiServer() throws Exception {
    apiServer = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    handlers = Executors.newVirtualThreadPerTaskExecutor(); // a held watch must not block a list
    apiServer.setExecutor(handlers);
    apiServer.createContext(
        "/api/v1/namespaces/sandboxes/pods",
        exchange -> {
          exchange.getResponseHeaders().add("Content-Type", "application/json");
          String query = exchange.getRequestURI().getQuery();
          if (query != null && query.contains("watch=true")) {
            exchange.sendResponseHeaders(200, 0); // open, and no event ever comes
            try {
              stopping.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          } else {
            byte[] body =
                "{\"apiVersion\":\"v1\",\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}"
                    .getBytes(UTF_8);
            exchange.sendResponseHeaders(200, body.length);
            exchange.getResponseBody().write(body);
          }
          exchange.close();
        });
    apiServer.start();
    ApiClient client = new ApiClient();
    client.setBasePath("http://127.0.0.1:" + apiServer.getAddress().getPort());
    client.setReadTimeout(0); // the watch's
    watcher = new PodWatcher(client, "sandboxes", "sel");
    check = new KubernetesHealthCheck(new SandboxObjects(client, "sandboxes"), "sel", watcher);
  }

  @AfterEach
  void stopApiServer() {
    watcher.close();
    stopping.countDown();
    apiServer.stop(0);
    handlers.shutdownNow();
  }

  @Test
  void aCreatedPodTheWatchDoesNotShowInTimeMakesItDown() throws Exception {
    watcher.start(Duration.ofSeconds(30));
    HealthCheckResponse synced = check.call();
    assertEquals(HealthCheckResponse.Status.UP, synced.status(), synced.details().toString());
    assertNull(synced.details().get("watch_stalled"));

    watcher.expect("kcr-py-unseen", Duration.ZERO);
    Eventually.await("stalled", Duration.ofSeconds(5), () -> watcher.stalled() != null);
    HealthCheckResponse stalled = check.call();

    assertEquals(HealthCheckResponse.Status.DOWN, stalled.status());
    assertEquals(
        "created pod kcr-py-unseen not shown by the watch in time",
        stalled.details().get("watch_stalled"));
    assertEquals(true, stalled.details().get("watch_synced"), "synced, all the same");
    assertEquals("reachable", stalled.details().get("api"));
  }
}
