package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pod watch's client: no read timeout (the informer's long watches), so it pings its connection
 * instead, or a connection dropped without a reset would freeze the pod cache for good.
 */
class KubeClientsTest {
  @Test
  void theWatchClientPingsItsConnectionAndHasNoReadTimeout(@TempDir Path dir) throws Exception {
    Path kubeconfig = dir.resolve("kubeconfig");
    Files.writeString(
        kubeconfig,
        """
        apiVersion: v1
        kind: Config
        clusters:
        - name: test
          cluster:
            server: https://127.0.0.1:1
            insecure-skip-tls-verify: true
        users:
        - name: test
          user:
            token: not-used
        contexts:
        - name: test
          context:
            cluster: test
            user: test
        current-context: test
        """);

    var watch = KubeClients.watch(kubeconfig.toString()).getHttpClient();
    assertEquals(30_000, watch.pingIntervalMillis());
    assertEquals(0, watch.readTimeoutMillis());

    var requests = KubeClients.requests(kubeconfig.toString()).getHttpClient();
    assertEquals(30_000, requests.readTimeoutMillis(), "plain requests are bounded instead");
  }
}
