package dev.kubecoderun.config;

import dev.kubecoderun.execution.Language;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Every setting of the service, read once from the environment at start. Each one is documented in
 * docs/configuration.md with its default.
 */
public record Config(
    Server server,
    Auth auth,
    Limits limits,
    Sandbox sandbox,
    State state,
    Path dataDir,
    Logging logging,
    Kubernetes kubernetes) {

  public record Server(String host, int port, Duration shutdownGrace) {}

  public record Auth(boolean enabled, List<String> apiKeys) {}

  public record Limits(
      Duration maxExecutionTime,
      long maxFileSizeBytes,
      int maxFilesPerRequest,
      int maxOutputFiles,
      int maxOutputBytes,
      long maxJsonBodyBytes,
      int maxConcurrentExecutions,
      Duration queueTimeout) {}

  public record Sandbox(
      String backend,
      Map<Language, Integer> poolSizes,
      int parallelStarts,
      Duration poolWaitTimeout,
      Duration startTimeout,
      Path runnerBinary,
      String pythonPreload,
      Path toolsDir,
      String path,
      Map<String, String> toolOverrides) {

    public int poolSize(Language language) {
      return poolSizes.getOrDefault(language, 0);
    }
  }

  /** The Kubernetes backend (SANDBOX_BACKEND=kubernetes); read even when unused, it is cheap. */
  public record Kubernetes(
      String namespace,
      String kubeconfig,
      String instanceId,
      String ownerPodName,
      String ownerPodUid,
      Map<Language, String> images,
      String imagePullPolicy,
      List<String> imagePullSecrets,
      Map<Language, String> cpuLimits,
      Map<Language, String> memoryLimits,
      String cpuRequest,
      String memoryRequest,
      String ephemeralStorageLimit,
      String runtimeClassName,
      Map<String, String> nodeSelector,
      List<Map<String, Object>> tolerations,
      String seccompProfileType,
      Duration podActiveDeadline,
      Duration jobDeadline,
      Duration jobTtl,
      int maxPods,
      int maxJobs,
      Map<String, String> podEnv) {}

  public record State(boolean enabled, Duration ttl, boolean captureOnError, long maxBytes) {}

  public record Logging(String level, boolean json) {}

  public static Config fromEnvironment() {
    return from(System.getenv());
  }

  public static Config from(Map<String, String> vars) {
    Env env = new Env(vars);
    Server server =
        new Server(
            env.string("API_HOST", "0.0.0.0"),
            env.integer("API_PORT", 8000, 0, 65535),
            env.seconds("SHUTDOWN_GRACE_SECONDS", 30, 0, 3600));

    List<String> keys = new java.util.ArrayList<>();
    String single = env.string("API_KEY", null);
    if (single != null) {
      keys.add(single);
    }
    keys.addAll(env.list("API_KEYS"));
    for (String k : keys) {
      if (k.length() < 16) {
        throw new ConfigException("API keys must be at least 16 characters (API_KEY / API_KEYS)");
      }
    }
    boolean authEnabled = env.bool("AUTH_ENABLED", true);
    if (authEnabled && keys.isEmpty()) {
      throw new ConfigException(
          "No API key configured: set API_KEY (or API_KEYS), or AUTH_ENABLED=false to run without"
              + " authentication");
    }
    Auth auth = new Auth(authEnabled, List.copyOf(keys));

    int maxFileMb = env.integer("MAX_FILE_SIZE_MB", 100, 1, 100_000);
    Limits limits =
        new Limits(
            env.seconds("MAX_EXECUTION_TIME", 30, 1, 600),
            maxFileMb * 1024L * 1024L,
            env.integer("MAX_FILES_PER_REQUEST", 50, 1, 10_000),
            env.integer("MAX_OUTPUT_FILES", 20, 0, 1000),
            env.integer("MAX_OUTPUT_SIZE", 1024 * 1024, 1024, 64 * 1024 * 1024),
            env.integer("MAX_REQUEST_BODY_MB", 10, 1, 1024) * 1024L * 1024L,
            env.integer("MAX_CONCURRENT_EXECUTIONS", 8, 1, 10_000),
            env.seconds("EXECUTION_QUEUE_TIMEOUT_SECONDS", 30, 0, 3600));

    Map<Language, Integer> pools = new EnumMap<>(Language.class);
    for (Language lang : Language.values()) {
      int dflt =
          switch (lang) {
            case PY -> 3;
            case JS -> 2;
            default -> 0;
          };
      pools.put(
          lang, env.integer("POD_POOL_" + lang.code().toUpperCase(Locale.ROOT), dflt, 0, 100));
    }
    String backend = env.string("SANDBOX_BACKEND", "local").toLowerCase(Locale.ROOT);
    if (!backend.equals("local") && !backend.equals("kubernetes")) {
      throw new ConfigException(
          "SANDBOX_BACKEND=" + backend + " is not supported (supported: local, kubernetes)");
    }
    Path toolsDir = Path.of(env.string("KCR_TOOLS_DIR", "/opt/kubecoderun"));
    Sandbox sandbox =
        new Sandbox(
            backend,
            Map.copyOf(pools),
            env.integer("POD_POOL_PARALLEL_BATCH", 2, 1, 64),
            // A Job costs seconds, a local runner milliseconds: wait longer for a warm pod.
            env.seconds("POD_POOL_WAIT_SECONDS", backend.equals("kubernetes") ? 10 : 1, 0, 600),
            env.seconds("SANDBOX_START_TIMEOUT_SECONDS", 30, 1, 600),
            Path.of(env.string("RUNNER_BIN", "target/runner")).toAbsolutePath(),
            env.string("RUNNER_PY_PRELOAD", "numpy,pandas,matplotlib"),
            toolsDir,
            env.string("PATH", "/usr/local/bin:/usr/bin:/bin"),
            env.withPrefix("RUNNER_TOOL_"));

    State state =
        new State(
            env.bool("STATE_PERSISTENCE_ENABLED", true),
            env.seconds("STATE_TTL_SECONDS", 7200, 60, 30 * 86400),
            env.bool("STATE_CAPTURE_ON_ERROR", false),
            env.integer("STATE_MAX_SIZE_MB", 50, 1, 1024) * 1024L * 1024L);

    Path dataDir = Path.of(env.string("DATA_DIR", "data")).toAbsolutePath().normalize();
    String format = env.string("LOG_FORMAT", "json").toLowerCase(Locale.ROOT);
    if (!format.equals("json") && !format.equals("text")) {
      throw new ConfigException("LOG_FORMAT=" + format + " must be json or text");
    }
    Logging logging =
        new Logging(
            env.string("LOG_LEVEL", "INFO").toUpperCase(Locale.ROOT), format.equals("json"));
    return new Config(
        server, auth, limits, sandbox, state, dataDir, logging, KubernetesConfig.read(env));
  }
}
