package dev.kubecoderun.config;

import static dev.kubecoderun.config.TestEnv.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.language.Language;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KubernetesConfigTest {
  @Test
  void defaults() {
    Config c = config("SANDBOX_BACKEND", "kubernetes", "POD_NAMESPACE", "sandboxes");
    Config.Kubernetes k = c.kubernetes();
    assertEquals("kubernetes", c.sandbox().backend());
    assertEquals(10, c.sandbox().poolWaitTimeout().toSeconds());
    assertEquals("sandboxes", k.namespace());
    assertEquals("kubecoderun/python:latest", k.images().get(Language.PY));
    assertEquals("kubecoderun/node:latest", k.images().get(Language.TS));
    assertEquals("kubecoderun/c-cpp:latest", k.images().get(Language.CPP));
    assertEquals("kubecoderun/fortran:latest", k.images().get(Language.F90));
    assertEquals("IfNotPresent", k.imagePullPolicy());
    assertEquals("1", k.cpuLimits().get(Language.GO));
    assertEquals("512Mi", k.memoryLimits().get(Language.GO));
    assertEquals("RuntimeDefault", k.seccompProfileType());
    // The deadlines follow MAX_EXECUTION_TIME and the rest: KubernetesDeadlinesTest.
    assertEquals(60, k.jobTtl().toSeconds());
    assertEquals(50, k.maxPods());
    assertEquals(20, k.maxJobs());
    assertEquals(0, config().sandbox().poolWaitTimeout().toSeconds(), "local makes one at once");
    Config.Isolation iso = k.isolation();
    assertEquals(Config.UserNamespaces.AUTO, iso.userNamespaces());
    assertEquals(1_000_000_000L, iso.uidMin());
    assertEquals(1_999_999_999L, iso.uidMax());
    assertEquals(List.of("1.1.1.1:443", "169.254.169.254:80"), iso.egressTargets());
    assertEquals(null, iso.apiAddress(), "listening on every address: unknown");
    assertEquals(60, k.ownerLease().toSeconds());
    assertTrue(!k.sandboxesElsewhere(), "in the API pod's namespace");
    assertEquals(Config.ApiAntiAffinity.PREFERRED, iso.apiAntiAffinity());
    assertEquals(Map.of(), iso.apiPodLabels(), "unknown: the chart passes them");
    assertNull(iso.apiNode(), "NODE_NAME unset");
    assertTrue(!iso.allowUnenforcedNetworkPolicy(), "sandboxes only where shown isolated");
    assertEquals(600, iso.recheckInterval().toSeconds(), "the isolation check every 10 min");
  }

  @Test
  void theIsolationRecheckMayBeTurnedOffButNotBeNegative() {
    assertEquals(
        0,
        config("SANDBOX_BACKEND", "kubernetes", "K8S_ISOLATION_RECHECK_SECONDS", "0")
            .kubernetes()
            .isolation()
            .recheckInterval()
            .toSeconds());
    assertThrows(
        ConfigException.class,
        () -> config("SANDBOX_BACKEND", "kubernetes", "K8S_ISOLATION_RECHECK_SECONDS", "-1"));
  }

  @Test
  void nodeSeparationSettings() {
    Config.Isolation iso =
        config(
                "K8S_SANDBOX_API_ANTI_AFFINITY", "Required",
                "K8S_API_POD_LABELS", "{\"app\":\"kcr\",\"tier\":\"\"}",
                "NODE_NAME", "node-a")
            .kubernetes()
            .isolation();
    assertEquals(Config.ApiAntiAffinity.REQUIRED, iso.apiAntiAffinity());
    assertEquals(Map.of("app", "kcr", "tier", ""), iso.apiPodLabels());
    assertEquals("node-a", iso.apiNode());
    assertEquals(
        Config.ApiAntiAffinity.OFF,
        config("K8S_SANDBOX_API_ANTI_AFFINITY", "off").kubernetes().isolation().apiAntiAffinity());
  }

  @Test
  void isolationSettings() {
    Config.Kubernetes k =
        config(
                "K8S_USER_NAMESPACES", "off",
                "K8S_SANDBOX_UIDS", " 200000 - 299999 ",
                "K8S_EGRESS_CHECK_ADDRESSES", "10.0.0.1:80, [fd00::1]:443",
                "POD_IP", "10.1.2.3",
                "API_PORT", "8001",
                "POD_NAMESPACE", "api",
                "K8S_NAMESPACE", "api-sandboxes")
            .kubernetes();
    Config.Isolation iso = k.isolation();
    assertEquals(Config.UserNamespaces.OFF, iso.userNamespaces());
    assertEquals(200000, iso.uidMin());
    assertEquals(299999, iso.uidMax());
    assertEquals(List.of("10.0.0.1:80", "[fd00::1]:443"), iso.egressTargets());
    assertEquals("10.1.2.3:8001", iso.apiAddress());
    assertTrue(k.sandboxesElsewhere());
    assertEquals(
        "[fd00::2]:8000",
        config("POD_IP", "fd00::2").kubernetes().isolation().apiAddress(),
        "IPv6 in brackets");
    assertEquals(
        "127.0.0.1:8000",
        config("API_HOST", "127.0.0.1").kubernetes().isolation().apiAddress(),
        "a specific listen address stands in for the pod IP");
    assertEquals(
        List.of(),
        config("K8S_EGRESS_CHECK_ADDRESSES", "").kubernetes().isolation().egressTargets());
  }

  @Test
  void overrides() {
    Config.Kubernetes k =
        config(
                "K8S_IMAGE_REGISTRY", "reg.example/kcr",
                "K8S_IMAGE_TAG", "1.2",
                "LANG_IMAGE_RS", "other/rust:9",
                "LANG_CPU_LIMIT_JAVA", "2",
                "LANG_MEMORY_LIMIT_JAVA", "1Gi",
                "K8S_IMAGE_PULL_SECRETS", "a, b",
                "K8S_POD_NODE_SELECTOR", "{\"pool\":\"sandbox\"}",
                "K8S_POD_TOLERATIONS", "[{\"key\":\"k\",\"tolerationSeconds\":5}]",
                "POD_NAME", "api-0",
                "K8S_NAMESPACE", "ns")
            .kubernetes();
    assertEquals("reg.example/kcr/go:1.2", k.images().get(Language.GO));
    assertEquals("other/rust:9", k.images().get(Language.RS));
    assertEquals("2", k.cpuLimits().get(Language.JAVA));
    assertEquals("1Gi", k.memoryLimits().get(Language.JAVA));
    assertEquals("1", k.cpuLimits().get(Language.PY));
    assertEquals(List.of("a", "b"), k.imagePullSecrets());
    assertEquals(Map.of("pool", "sandbox"), k.nodeSelector());
    assertEquals(5, k.tolerations().get(0).get("tolerationSeconds"));
    assertEquals("api-0", k.instanceId());
    assertEquals("ns", k.namespace());
  }

  /** Each live sandbox pod without a user namespace needs a uid of its own. */
  @Test
  void theUidRangeMustHoldEverySandboxThatMayLiveAtOnce() {
    String hundred = "100000-100099";
    assertEquals(100000, config("K8S_SANDBOX_UIDS", hundred).kubernetes().isolation().uidMin());
    ConfigException e =
        assertThrows(
            ConfigException.class, () -> config("K8S_SANDBOX_UIDS", hundred, "K8S_MAX_PODS", "80"));
    assertTrue(e.getMessage().contains("K8S_SANDBOX_UIDS has 100 uids"), e.getMessage());
    assertTrue(e.getMessage().contains("= 101"), e.getMessage());
    // Always user namespaces: the uids are not used.
    assertEquals(
        80,
        config("K8S_SANDBOX_UIDS", hundred, "K8S_MAX_PODS", "80", "K8S_USER_NAMESPACES", "on")
            .kubernetes()
            .maxPods());
  }

  @Test
  void badValuesNameTheVariable() {
    for (String[] bad :
        List.of(
            new String[] {"K8S_POD_TOLERATIONS", "{}"},
            new String[] {"K8S_POD_NODE_SELECTOR", "nope"},
            new String[] {"K8S_SECCOMP_PROFILE_TYPE", "Localhost"},
            new String[] {"K8S_SECCOMP_PROFILE_TYPE", "Unconfined"},
            new String[] {"K8S_MAX_PODS", "0"},
            new String[] {"K8S_USER_NAMESPACES", "maybe"},
            new String[] {"K8S_SANDBOX_API_ANTI_AFFINITY", "always"},
            new String[] {"K8S_POD_REUSE", "always"},
            new String[] {"K8S_API_POD_LABELS", "[\"app\"]"},
            new String[] {"K8S_API_POD_LABELS", "{\"app\":\"not a label value\"}"},
            new String[] {"K8S_SANDBOX_UIDS", "5000"},
            new String[] {"K8S_SANDBOX_UIDS", "0-100000"},
            new String[] {"K8S_SANDBOX_UIDS", "100000-100010"},
            new String[] {"K8S_SANDBOX_UIDS", "100000-3000000000"},
            new String[] {"K8S_EGRESS_CHECK_ADDRESSES", "1.1.1.1"},
            new String[] {"K8S_OWNER_LEASE_SECONDS", "1"},
            new String[] {"SANDBOX_BACKEND", "docker"})) {
      ConfigException e = assertThrows(ConfigException.class, () -> config(bad));
      assertTrue(e.getMessage().contains(bad[0]), e.getMessage());
    }
  }

  @Test
  void aChoiceTakesAnyCaseAndARefusalListsTheChoices() {
    assertEquals(
        Config.PodReuse.SESSION, config("K8S_POD_REUSE", "Session").kubernetes().podReuse());
    assertEquals(
        "K8S_POD_REUSE=always must be none or session",
        assertThrows(ConfigException.class, () -> config("K8S_POD_REUSE", "always")).getMessage());
    assertEquals(
        "K8S_USER_NAMESPACES=maybe must be auto, on or off",
        assertThrows(ConfigException.class, () -> config("K8S_USER_NAMESPACES", "maybe"))
            .getMessage());
  }
}
