package dev.kubecoderun.config;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kubecoderun.language.Language;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

/** Reads the Kubernetes backend's settings (docs/configuration.md, "Kubernetes backend"). */
final class KubernetesConfig {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final Path SA_NAMESPACE =
      Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
  // A label value: what the instance id must be, since it labels every sandbox.
  private static final Pattern LABEL_VALUE =
      Pattern.compile("([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]");

  private KubernetesConfig() {}

  static Config.Kubernetes read(Env env) {
    String registry = env.string("K8S_IMAGE_REGISTRY", "kubecoderun");
    String tag = env.string("K8S_IMAGE_TAG", "latest");
    String cpuLimit = env.string("K8S_CPU_LIMIT", "1");
    String memoryLimit = env.string("K8S_MEMORY_LIMIT", "512Mi");
    Map<Language, String> images = new EnumMap<>(Language.class);
    Map<Language, String> cpu = new EnumMap<>(Language.class);
    Map<Language, String> memory = new EnumMap<>(Language.class);
    for (Language l : Language.values()) {
      String code = l.code().toUpperCase(Locale.ROOT);
      images.put(l, env.string("LANG_IMAGE_" + code, registry + "/" + l.image() + ":" + tag));
      cpu.put(l, env.string("LANG_CPU_LIMIT_" + code, cpuLimit));
      memory.put(l, env.string("LANG_MEMORY_LIMIT_" + code, memoryLimit));
    }
    String instanceId = env.firstOf("kubecoderun", "POD_NAME", "HOSTNAME");
    if (!LABEL_VALUE.matcher(instanceId).matches()) {
      throw new ConfigException(
          "the API instance id (POD_NAME, else HOSTNAME) \""
              + instanceId
              + "\" is not a valid label value");
    }
    String seccomp = env.string("K8S_SECCOMP_PROFILE_TYPE", "RuntimeDefault");
    if (!seccomp.equals("RuntimeDefault") && !seccomp.equals("Unconfined")) {
      throw new ConfigException(
          "K8S_SECCOMP_PROFILE_TYPE=" + seccomp + " must be RuntimeDefault or Unconfined");
    }
    return new Config.Kubernetes(
        env.string("K8S_NAMESPACE", defaultNamespace(env)),
        env.string("KUBECONFIG", null),
        instanceId,
        env.string("POD_NAME", null),
        env.string("POD_UID", null),
        Map.copyOf(images),
        env.string("K8S_IMAGE_PULL_POLICY", "IfNotPresent"),
        List.copyOf(env.list("K8S_IMAGE_PULL_SECRETS")),
        Map.copyOf(cpu),
        Map.copyOf(memory),
        env.string("K8S_CPU_REQUEST", "100m"),
        env.string("K8S_MEMORY_REQUEST", "128Mi"),
        env.string("K8S_EPHEMERAL_STORAGE_LIMIT", "2Gi"),
        env.string("K8S_RUNTIME_CLASS_NAME", ""),
        json(env, "K8S_POD_NODE_SELECTOR", "{}", new TypeReference<Map<String, String>>() {}),
        json(env, "K8S_POD_TOLERATIONS", "[]", new TypeReference<List<Map<String, Object>>>() {}),
        seccomp,
        env.seconds("K8S_POD_ACTIVE_DEADLINE_SECONDS", 3600, 60, 7 * 86400),
        env.seconds("K8S_JOB_DEADLINE_SECONDS", 300, 10, 86400),
        env.seconds("K8S_JOB_TTL_SECONDS", 60, 0, 86400),
        env.integer("K8S_MAX_PODS", 50, 1, 10_000),
        env.integer("K8S_MAX_JOBS", 20, 1, 10_000),
        json(env, "K8S_POD_ENV", "{}", new TypeReference<Map<String, String>>() {}));
  }

  /** POD_NAMESPACE (downward API), else the service account's namespace, else "default". */
  private static String defaultNamespace(Env env) {
    String fromEnv = env.string("POD_NAMESPACE", null);
    if (fromEnv != null) {
      return fromEnv;
    }
    try {
      if (Files.isReadable(SA_NAMESPACE)) {
        return Files.readString(SA_NAMESPACE).trim();
      }
    } catch (IOException e) {
      // unreadable: fall back to the default namespace
    }
    return "default";
  }

  private static <T> T json(Env env, String name, String dflt, TypeReference<T> type) {
    String v = env.string(name, dflt);
    try {
      return JSON.readValue(v, type);
    } catch (IOException e) {
      throw new ConfigException(
          name + " is not valid JSON of the expected shape: " + e.getMessage());
    }
  }
}
