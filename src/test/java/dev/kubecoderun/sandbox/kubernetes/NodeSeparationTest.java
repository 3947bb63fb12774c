package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kubecoderun.config.Config;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** node_separation in sandbox_isolation: where the start-up check's pod ran, against the API's. */
class NodeSeparationTest {
  private static Config.Isolation isolation(Config.ApiAntiAffinity anti, String apiNode) {
    return new Config.Isolation(
        Config.UserNamespaces.AUTO,
        1_000_000_000L,
        1_999_999_999L,
        null,
        List.of(),
        false,
        java.time.Duration.ofMinutes(10),
        anti,
        Map.of("app", "kcr-api"),
        apiNode);
  }

  @Test
  void sharingTheApiNodeIsReported() {
    assertEquals(
        "SHARED: the probe pod ran on node n1, this API pod's, where a sandbox escaping to the node"
            + " would find the API's credentials; preferred anti-affinity to the API pods (give"
            + " sandboxes nodes of their own: docs/kubernetes.md, \"Nodes\")",
        IsolationProbe.nodeSeparation(
            "n1", isolation(Config.ApiAntiAffinity.PREFERRED, "n1"), true));
  }

  @Test
  void anotherNodeIsApart() {
    assertEquals(
        "apart: the probe pod ran on node n2, this API pod on n1; required anti-affinity to the"
            + " API pods",
        IsolationProbe.nodeSeparation(
            "n2", isolation(Config.ApiAntiAffinity.REQUIRED, "n1"), true));
  }

  @Test
  void withoutNodeNameItIsUnknown() {
    assertEquals(
        "unknown: the probe pod ran on node n2, this API pod's node is not known (NODE_NAME"
            + " unset); no anti-affinity to the API pods (K8S_SANDBOX_API_ANTI_AFFINITY=off)",
        IsolationProbe.nodeSeparation("n2", isolation(Config.ApiAntiAffinity.OFF, null), false));
  }

  @Test
  void aProbeThatDidNotRunChecksNothing() {
    assertEquals(
        "not checked: the probe pod did not run; no anti-affinity to the API pods"
            + " (K8S_API_POD_LABELS unset)",
        IsolationProbe.nodeSeparation(
            null, isolation(Config.ApiAntiAffinity.PREFERRED, "n1"), false));
  }
}
