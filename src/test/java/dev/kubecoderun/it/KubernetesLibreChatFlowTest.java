package dev.kubecoderun.it;

import org.junit.jupiter.api.Tag;

/**
 * LibreChat's calls on the Kubernetes backend: every flow of {@link LibreChatFlowTest} (uploads
 * readable at /mnt/data, generated files returned and downloadable, files carried to the next call)
 * with the sandboxes in pods of the test cluster, run from the built images.
 */
@Tag("kubernetes")
class KubernetesLibreChatFlowTest extends LibreChatFlowTest {
  @Override
  TestServer server() {
    return TestServer.kubernetes();
  }
}
