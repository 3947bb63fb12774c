package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.kubecoderun.testing.Eventually;
import io.helidon.health.HealthCheckResponse;
import io.kubernetes.client.openapi.ApiClient;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A pod watch can stay "synced" on a connection dropped without a reset, showing nothing new: the
 * health check is down once a pod this API created is not shown in time, though the API server
 * answers. The API server here is a stand-in with no pods, whose watches stay open and quiet.
 */
class KubernetesHealthCheckTest {
  private StandInApiServer apiServer;
  private final CountDownLatch stopping = new CountDownLatch(1);
  private PodWatcher watcher;
  private KubernetesHealthCheck check;

  @BeforeEach
  void startApiServer() throws Exception {
    apiServer =
        StandInApiServer.start(
            exchange -> {
              String query = exchange.getRequestURI().getQuery();
              if (query != null && query.contains("watch=true")) {
                exchange.getResponseHeaders().add("Content-Type", "application/json");
                exchange.sendResponseHeaders(200, 0); // open, and no event ever comes
                try {
                  stopping.await();
                } catch (InterruptedException e) {
                  Thread.currentThread().interrupt();
                }
                exchange.close();
              } else {
                StandInApiServer.reply(
                    exchange,
                    200,
                    "{\"apiVersion\":\"v1\",\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}");
              }
            });
    ApiClient client = apiServer.client();
    client.setReadTimeout(0); // the watch's
    watcher = new PodWatcher(client, "sandboxes", "sel");
    check = new KubernetesHealthCheck(new SandboxObjects(client, "sandboxes"), "sel", watcher);
  }

  @AfterEach
  void stopApiServer() {
    watcher.close();
    stopping.countDown();
    apiServer.close();
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
