package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerSettings;
import io.kubernetes.client.openapi.models.V1Affinity;
import io.kubernetes.client.openapi.models.V1PodAffinityTerm;
import io.kubernetes.client.openapi.models.V1PodAntiAffinity;
import io.kubernetes.client.openapi.models.V1PodSpec;
import io.kubernetes.client.openapi.models.V1WeightedPodAffinityTerm;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The sandbox pod spec's placement: kept off the nodes of the API pods. */
class PodSpecsTest {
  private static final String API_LABELS =
      "{\"app.kubernetes.io/name\":\"kubecoderun\",\"app.kubernetes.io/instance\":\"kcr\","
          + "\"app.kubernetes.io/component\":\"api\"}";
  private static final Map<String, String> LABELS =
      Map.of(
          "app.kubernetes.io/name", "kubecoderun",
          "app.kubernetes.io/instance", "kcr",
          "app.kubernetes.io/component", "api");

  /** PodSpecs as the chart configures the API: API pods in "kcr", sandboxes in their own. */
  private static PodSpecs specs(String... kv) {
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", "k".repeat(20));
    env.put("SANDBOX_BACKEND", "kubernetes");
    env.put("POD_NAMESPACE", "kcr");
    env.put("K8S_NAMESPACE", "kcr-sandboxes");
    env.put("POD_NAME", "kcr-api-0");
    env.put("K8S_API_POD_LABELS", API_LABELS);
    for (int i = 0; i < kv.length; i += 2) {
      env.put(kv[i], kv[i + 1]);
    }
    return new PodSpecs(
        Config.from(env).kubernetes(),
        new RunnerSettings(Duration.ofSeconds(30), 30_000, 1 << 20, 1 << 20, ""));
  }

  private static final SandboxIsolation.PodIdentity ID =
      new SandboxIsolation.PodIdentity(null, 1_000_000_123L);

  /** Every kind of sandbox pod: pool, Job and the start-up check's probe. */
  private static List<V1PodSpec> allPods(PodSpecs specs) {
    return List.of(
        specs.poolPod("p", Language.PY, "t", ID).getSpec(),
        specs.job("j", Language.GO, "t", ID).getSpec().getTemplate().getSpec(),
        specs.probePod("probe", "t", ID).getSpec());
  }

  private static void assertApiPodsTerm(V1PodAffinityTerm term) {
    assertEquals("kubernetes.io/hostname", term.getTopologyKey());
    assertEquals(LABELS, term.getLabelSelector().getMatchLabels());
    assertTrue(term.getLabelSelector().getMatchExpressions().isEmpty());
    assertEquals(List.of("kcr"), term.getNamespaces(), "the API pods' namespace, not the pod's");
    assertNull(term.getNamespaceSelector());
  }

  /**
   * The termination message file is a writable file of the node's disk that no ephemeral-storage
   * limit counts: the runner is told where it is, to empty it after every step.
   */
  @Test
  void theRunnerEmptiesTheTerminationLogTheKubeletMountsWritable() {
    for (V1PodSpec spec : allPods(specs())) {
      var container = spec.getContainers().get(0);
      var told =
          container.getEnv().stream()
              .filter(e -> e.getName().equals("RUNNER_TERMINATION_LOG"))
              .map(e -> e.getValue())
              .toList();
      assertEquals(List.of("/dev/termination-log"), told);
      assertEquals("/dev/termination-log", container.getTerminationMessagePath());
    }
  }

  /**
   * The scratch volumes: on the node's disk by default; with K8S_SCRATCH_MEDIUM=memory a tmpfs of
   * their size, which a run cannot write past (nor use the node's inodes), in every kind of pod.
   */
  @Test
  void theScratchVolumesAreOnDiskOrInMemoryAsConfigured() {
    for (V1PodSpec spec : allPods(specs())) {
      for (var volume : spec.getVolumes()) {
        assertNull(volume.getEmptyDir().getMedium(), volume.getName());
        assertEquals("1Gi", volume.getEmptyDir().getSizeLimit().toSuffixedString());
      }
    }
    for (V1PodSpec spec : allPods(specs("K8S_SCRATCH_MEDIUM", "memory"))) {
      assertEquals(
          List.of("data", "tmp"), spec.getVolumes().stream().map(v -> v.getName()).toList());
      for (var volume : spec.getVolumes()) {
        assertEquals("Memory", volume.getEmptyDir().getMedium(), volume.getName());
        assertEquals("1Gi", volume.getEmptyDir().getSizeLimit().toSuffixedString());
      }
    }
  }

  /** A few seconds of a starved /health (a run holding the CPU) do not make a pod look gone. */
  @Test
  void aSandboxIsTakenForNotReadyOnlyAfterTenSecondsWithoutAnAnswer() {
    for (V1PodSpec spec : allPods(specs())) {
      var probe = spec.getContainers().get(0).getReadinessProbe();
      assertEquals(1, probe.getPeriodSeconds());
      assertEquals(10, probe.getFailureThreshold());
      assertEquals(2, probe.getTimeoutSeconds());
    }
  }

  @Test
  void byDefaultSandboxesPreferNodesWithoutAnApiPod() {
    for (V1PodSpec spec : allPods(specs())) {
      V1PodAntiAffinity anti = spec.getAffinity().getPodAntiAffinity();
      assertTrue(anti.getRequiredDuringSchedulingIgnoredDuringExecution().isEmpty(), "preferred");
      List<V1WeightedPodAffinityTerm> preferred =
          anti.getPreferredDuringSchedulingIgnoredDuringExecution();
      assertEquals(1, preferred.size());
      assertEquals(100, preferred.get(0).getWeight());
      assertApiPodsTerm(preferred.get(0).getPodAffinityTerm());
      assertNull(spec.getAffinity().getNodeAffinity());
      assertNull(spec.getAffinity().getPodAffinity());
    }
  }

  @Test
  void requiredKeepsSandboxesOffTheApiNodes() {
    for (V1PodSpec spec : allPods(specs("K8S_SANDBOX_API_ANTI_AFFINITY", "required"))) {
      V1PodAntiAffinity anti = spec.getAffinity().getPodAntiAffinity();
      assertTrue(anti.getPreferredDuringSchedulingIgnoredDuringExecution().isEmpty());
      List<V1PodAffinityTerm> required = anti.getRequiredDuringSchedulingIgnoredDuringExecution();
      assertEquals(1, required.size());
      assertApiPodsTerm(required.get(0));
    }
  }

  @Test
  void noAntiAffinityWhenOffOrWithoutTheApiPodsLabels() {
    for (PodSpecs specs :
        List.of(
            specs("K8S_SANDBOX_API_ANTI_AFFINITY", "off"),
            // An empty selector would match every pod of the namespace: none instead.
            specs("K8S_API_POD_LABELS", "{}"))) {
      assertNull(specs.apiAntiAffinity());
      for (V1PodSpec spec : allPods(specs)) {
        assertNull(spec.getAffinity());
      }
    }
  }

  /** Without POD_NAMESPACE the term names no namespace: the sandbox pod's own. */
  @Test
  void withoutTheApiNamespaceTheTermIsTheSandboxNamespaces() {
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", "k".repeat(20));
    env.put("SANDBOX_BACKEND", "kubernetes");
    env.put("K8S_NAMESPACE", "shared");
    env.put("K8S_API_POD_LABELS", "{\"app\":\"kcr-api\"}");
    V1Affinity affinity =
        new PodSpecs(
                Config.from(env).kubernetes(),
                new RunnerSettings(Duration.ofSeconds(30), 30_000, 1 << 20, 1 << 20, ""))
            .apiAntiAffinity();
    V1PodAffinityTerm term =
        affinity
            .getPodAntiAffinity()
            .getPreferredDuringSchedulingIgnoredDuringExecution()
            .get(0)
            .getPodAffinityTerm();
    assertEquals(Map.of("app", "kcr-api"), term.getLabelSelector().getMatchLabels());
    assertTrue(term.getNamespaces().isEmpty());
  }
}
