package dev.kubecoderun.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.language.Language;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KubernetesConfigTest {
  private static Config config(String... kv) {
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", "k".repeat(20));
    for (int i = 0; i < kv.length; i += 2) {
      env.put(kv[i], kv[i + 1]);
    }
    return Config.from(env);
  }

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
    assertEquals(3600, k.podActiveDeadline().toSeconds());
    assertEquals(300, k.jobDeadline().toSeconds());
    assertEquals(60, k.jobTtl().toSeconds());
    assertEquals(50, k.maxPods());
    assertEquals(20, k.maxJobs());
    assertEquals(0, config().sandbox().poolWaitTimeout().toSeconds(), "local makes one at once");
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

  @Test
  void badValuesNameTheVariable() {
    for (String[] bad :
        List.of(
            new String[] {"K8S_POD_TOLERATIONS", "{}"},
            new String[] {"K8S_POD_NODE_SELECTOR", "nope"},
            new String[] {"K8S_SECCOMP_PROFILE_TYPE", "Localhost"},
            new String[] {"K8S_MAX_PODS", "0"},
            new String[] {"SANDBOX_BACKEND", "docker"})) {
      ConfigException e = assertThrows(ConfigException.class, () -> config(bad));
      assertTrue(e.getMessage().contains(bad[0]), e.getMessage());
    }
  }
}
