package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerSettings;
import dev.kubecoderun.sandbox.SandboxException;
import io.helidon.webclient.api.WebClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The factory against a stand-in API server browning out: it creates no pod (500) and deletes none
 * (503). Its watch lists no pods and then stays open and quiet.
 */
class KubernetesSandboxFactoryTest {
  /**
   * A sandbox whose delete failed is still there, maybe running: shutdown deletes it again, as it
   * does the sandboxes still in use, rather than leaving it to the API's next start.
   */
  @Test
  void aSandboxWhoseDeleteFailedIsDeletedAgainAtShutdown(@TempDir Path dir) throws Exception {
    List<String> deletes = new CopyOnWriteArrayList<>(); // the paths deleted
    CountDownLatch stopping = new CountDownLatch(1);
    try (StandInApiServer apiServer =
        StandInApiServer.start(
            exchange -> {
              String path = exchange.getRequestURI().getPath();
              String query = exchange.getRequestURI().getQuery();
              switch (exchange.getRequestMethod()) {
                case "POST" -> StandInApiServer.reply(exchange, 500, StandInApiServer.failure(500));
                case "DELETE" -> {
                  deletes.add(path);
                  StandInApiServer.reply(exchange, 503, StandInApiServer.failure(503));
                }
                default -> {
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
                    String kind = path.endsWith("/jobs") ? "JobList" : "PodList";
                    StandInApiServer.reply(
                        exchange,
                        200,
                        "{\"kind\":\""
                            + kind
                            + "\",\"metadata\":{\"resourceVersion\":\"1\"},\"items\":[]}");
                  }
                }
              }
            })) {
      Path kubeconfig = dir.resolve("kubeconfig");
      Files.writeString(
          kubeconfig,
          """
          apiVersion: v1
          kind: Config
          clusters:
          - name: stand-in
            cluster:
              server: %s
          users:
          - name: api
            user:
              token: t
          contexts:
          - name: stand-in
            context:
              cluster: stand-in
              user: api
          current-context: stand-in
          """
              .formatted(apiServer.client().getBasePath()));
      Config.Kubernetes k8s =
          Config.from(
                  Map.of(
                      "API_KEY",
                      "k".repeat(20),
                      "SANDBOX_BACKEND",
                      "kubernetes",
                      "K8S_NAMESPACE",
                      "sandboxes",
                      "KUBECONFIG",
                      kubeconfig.toString()))
              .kubernetes();
      // A short start timeout: a creation waits that long for the isolation check, never run here.
      var settings = new RunnerSettings(Duration.ofSeconds(1), 30_000, 1 << 20, 1 << 20, "");
      var factory =
          new KubernetesSandboxFactory(k8s, settings, WebClient.builder().build(), List.of());
      try {
        String why =
            assertThrows(SandboxException.class, () -> factory.create(Language.PY, true))
                .getMessage();
        assertEquals(1, deletes.size(), why + ": its delete tried once, and failed");
      } finally {
        factory.close();
        stopping.countDown();
      }
      assertEquals(2, deletes.size(), "deleted again at shutdown: " + deletes);
      assertTrue(
          deletes.get(0).startsWith("/api/v1/namespaces/sandboxes/pods/kcr-py-"), deletes.get(0));
      assertEquals(deletes.get(0), deletes.get(1), "the same pod");
    }
  }
}
