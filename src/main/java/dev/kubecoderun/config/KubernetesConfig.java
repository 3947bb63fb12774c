package dev.kubecoderun.config;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kubecoderun.language.Language;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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

  /**
   * @param runNeed the longest one run may use its sandbox pod ({@link SandboxUse#ofARun})
   * @param startTimeout how long a sandbox may take to start (SANDBOX_START_TIMEOUT_SECONDS)
   * @param used the backend is Kubernetes: deadlines set too short for a run are refused
   */
  static Config.Kubernetes read(Env env, Duration runNeed, Duration startTimeout, boolean used) {
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
    int maxPods = env.integer("K8S_MAX_PODS", 50, 1, 10_000);
    int maxJobs = env.integer("K8S_MAX_JOBS", 20, 1, 10_000);
    Config.Isolation isolation = isolation(env);
    // Every live sandbox without a user namespace takes a uid of its own (SandboxIsolation waits
    // for a free one, forever when there is none): the pods, the Jobs and the start-up check's pod.
    long uids = isolation.uidMax() - isolation.uidMin() + 1;
    if (isolation.userNamespaces() != Config.UserNamespaces.ON && uids < maxPods + maxJobs + 1L) {
      throw new ConfigException(
          "K8S_SANDBOX_UIDS has "
              + uids
              + " uids, fewer than the sandboxes that may live at once (K8S_MAX_PODS + K8S_MAX_JOBS"
              + " + 1 = "
              + (maxPods + maxJobs + 1)
              + ")");
    }
    // Unconfined is refused, not offered: hostile code with every system call the kernel has is the
    // surface most container escapes use, and the API does not run sandboxes weaker than it says.
    String seccomp = env.string("K8S_SECCOMP_PROFILE_TYPE", "RuntimeDefault");
    if (!seccomp.equals("RuntimeDefault")) {
      throw new ConfigException(
          "K8S_SECCOMP_PROFILE_TYPE="
              + seccomp
              + " must be RuntimeDefault: sandbox pods never run without the runtime's seccomp"
              + " filter");
    }
    Config.PodReuse podReuse =
        env.choice("K8S_POD_REUSE", Config.PodReuse.NONE, Config.PodReuse.class);
    // Unset, the deadlines follow what a run may use of a pod, so that no setting of the API's own
    // (MAX_EXECUTION_TIME, the transfer and programmatic timeouts) has Kubernetes kill a run it
    // allows. A pool pod lives for two runs (set ones are checked against the same): less and it
    // would be replaced before much use. A Job's deadline counts from before its pod starts: the
    // start, and the one run its pod serves, or with K8S_POD_REUSE=session as long as a pool pod
    // for its session's further runs.
    int podDefault = (int) runNeed.multipliedBy(2).toSeconds();
    int jobDefault =
        (int)
            startTimeout
                .plus(runNeed.multipliedBy(podReuse == Config.PodReuse.SESSION ? 2 : 1))
                .toSeconds();
    Duration podDeadline =
        env.seconds("K8S_POD_ACTIVE_DEADLINE_SECONDS", podDefault, 60, 7 * 86400);
    Duration jobDeadline = env.seconds("K8S_JOB_DEADLINE_SECONDS", jobDefault, 10, 7 * 86400);
    if (used) {
      checkDeadlines(podDeadline, jobDeadline, runNeed, startTimeout);
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
        podDeadline,
        jobDeadline,
        env.seconds("K8S_JOB_TTL_SECONDS", 60, 0, 86400),
        runNeed,
        maxPods,
        maxJobs,
        json(env, "K8S_POD_ENV", "{}", new TypeReference<Map<String, String>>() {}),
        isolation,
        env.string("POD_NAMESPACE", null),
        env.seconds("K8S_OWNER_LEASE_SECONDS", 60, 5, 3600),
        podReuse,
        env.seconds("K8S_SESSION_POD_IDLE_SECONDS", 120, 5, 3600),
        env.integer("K8S_SESSION_POD_MAX_RUNS", 100, 1, 100_000),
        env.choice("K8S_SCRATCH_MEDIUM", Config.ScratchMedium.DISK, Config.ScratchMedium.class));
  }

  /**
   * Refuses Kubernetes deadlines that would kill runs the API allows. A pool pod with less of its
   * deadline left than a run needs is replaced unused: one that never had much more would be
   * started and replaced over and over, serving few runs, so it must have twice that. A Job's
   * deadline counts from before its pod starts, so it must hold the start and one whole run.
   */
  private static void checkDeadlines(
      Duration podDeadline, Duration jobDeadline, Duration runNeed, Duration startTimeout) {
    String need = runNeed.toSeconds() + " s: " + SandboxUse.explained();
    if (podDeadline.compareTo(runNeed.multipliedBy(2)) < 0) {
      throw new ConfigException(
          "K8S_POD_ACTIVE_DEADLINE_SECONDS="
              + podDeadline.toSeconds()
              + " must be at least twice what a run may use of a pod ("
              + need
              + "): a pod with less left is not handed out. Raise it to at least "
              + runNeed.multipliedBy(2).toSeconds()
              + ", or leave it unset to follow these settings");
    }
    Duration job = startTimeout.plus(runNeed);
    if (jobDeadline.compareTo(job) < 0) {
      throw new ConfigException(
          "K8S_JOB_DEADLINE_SECONDS="
              + jobDeadline.toSeconds()
              + " is shorter than a Job's pod may need: SANDBOX_START_TIMEOUT_SECONDS="
              + startTimeout.toSeconds()
              + " to start, then one run ("
              + need
              + "); Kubernetes would kill such runs. Raise it to at least "
              + job.toSeconds()
              + ", or leave it unset to follow these settings");
    }
  }

  // Distinct uids: far above the ids of a node's own users and of the kubelet's user-namespace
  // ranges (65536 x N), below 2^31 (some tools read ids as signed ints).
  private static final long DEFAULT_UID_MIN = 1_000_000_000L;
  private static final long DEFAULT_UID_MAX = 1_999_999_999L;

  private static Config.Isolation isolation(Env env) {
    Config.UserNamespaces userNamespaces =
        env.choice("K8S_USER_NAMESPACES", Config.UserNamespaces.AUTO, Config.UserNamespaces.class);
    String range = env.string("K8S_SANDBOX_UIDS", DEFAULT_UID_MIN + "-" + DEFAULT_UID_MAX);
    long min;
    long max;
    try {
      String[] parts = range.trim().split("-", 2);
      min = Long.parseLong(parts[0].trim());
      max = Long.parseLong(parts[1].trim());
    } catch (RuntimeException e) {
      throw new ConfigException(
          "K8S_SANDBOX_UIDS=" + range + " must be MIN-MAX, e.g. 100000-199999");
    }
    if (min < 1000 || max < min + 99 || max > 2_147_483_647L) {
      throw new ConfigException(
          "K8S_SANDBOX_UIDS="
              + range
              + ": want at least 100 uids, all from 1000 to 2147483647 (not a node's own users)");
    }
    // This API as a sandbox would reach it: its pod IP (the chart passes POD_IP), else the address
    // it listens on when that is a specific one.
    String port = env.string("API_PORT", "8000");
    String host = env.string("POD_IP", null);
    if (host == null) {
      String listen = env.string("API_HOST", "0.0.0.0");
      host = listen.equals("0.0.0.0") || listen.equals("::") ? null : listen;
    }
    String api = host == null ? null : (host.contains(":") ? "[" + host + "]" : host) + ":" + port;
    List<String> targets =
        !env.present("K8S_EGRESS_CHECK_ADDRESSES")
            ? List.of("1.1.1.1:443", "169.254.169.254:80")
            : List.copyOf(env.list("K8S_EGRESS_CHECK_ADDRESSES"));
    for (String t : targets) {
      if (!t.matches("(\\[[0-9a-fA-F:.]+\\]|[^\\s:\\[\\]]+):\\d{1,5}")) {
        throw new ConfigException(
            "K8S_EGRESS_CHECK_ADDRESSES: \"" + t + "\" is not host:port (IPv6 as [addr]:port)");
      }
    }
    Config.ApiAntiAffinity antiAffinity =
        env.choice(
            "K8S_SANDBOX_API_ANTI_AFFINITY",
            Config.ApiAntiAffinity.PREFERRED,
            Config.ApiAntiAffinity.class);
    return new Config.Isolation(
        userNamespaces,
        min,
        max,
        api,
        targets,
        env.bool("K8S_ALLOW_UNENFORCED_NETWORK_POLICY", false),
        env.seconds("K8S_ISOLATION_RECHECK_SECONDS", 600, 0, 86_400),
        antiAffinity,
        apiPodLabels(env),
        env.string("NODE_NAME", null));
  }

  /** K8S_API_POD_LABELS: a label selector of the API pods, so every value must be a label value. */
  private static Map<String, String> apiPodLabels(Env env) {
    Map<String, String> labels =
        json(env, "K8S_API_POD_LABELS", "{}", new TypeReference<Map<String, String>>() {});
    for (var e : labels.entrySet()) {
      String v = e.getValue();
      if (v == null || !(v.isEmpty() || LABEL_VALUE.matcher(v).matches())) {
        throw new ConfigException(
            "K8S_API_POD_LABELS: the value of " + e.getKey() + " is not a valid label value");
      }
    }
    return Map.copyOf(labels);
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
