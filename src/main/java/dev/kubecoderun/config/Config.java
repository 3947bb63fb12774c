package dev.kubecoderun.config;

import dev.kubecoderun.auth.Authenticator;
import dev.kubecoderun.auth.ClientAddress;
import dev.kubecoderun.auth.JwtKeys;
import dev.kubecoderun.auth.RateWindow;
import dev.kubecoderun.language.Language;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Level;

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
    Sessions sessions,
    Redis redis,
    S3 s3,
    Path dataDir,
    Logging logging,
    Kubernetes kubernetes,
    Operations operations) {

  /**
   * {@code downloadSendTimeout}: a file download whose client accepts no bytes for this long is
   * aborted, so a client that stops reading cannot hold a file or S3 connection open forever.
   * {@code trustedProxies} (TRUSTED_PROXIES): connections from these networks are proxies', whose
   * X-Forwarded-For names the client ({@link ClientAddress}); empty, the connection is the client.
   * {@code requestBodyMinRate} (bytes a second): the rate a request body must average once the idle
   * timeout has passed.
   */
  public record Server(
      String host,
      int port,
      Duration shutdownGrace,
      Duration downloadSendTimeout,
      int maxConnections,
      int maxConcurrentRequests,
      Duration idleConnectionTimeout,
      long requestBodyMinRate,
      FailedCredentials failedCredentials,
      List<ClientAddress.Cidr> trustedProxies) {}

  /**
   * The throttle of guessing (AUTH_FAILURE_*): after {@code limit} failed checks of API keys, the
   * master key or the metrics token from one address within {@code window}, its further unknown
   * credentials are refused unchecked until the window ends ({@code limit} 0: off). At most {@code
   * maxAddresses} addresses are tracked.
   */
  public record FailedCredentials(int limit, Duration window, int maxAddresses) {}

  /**
   * {@code rateLimitEnabled}: per-key limits of managed keys (records in the key store) and {@code
   * jwtRateLimits} of every JWT principal. {@code provider} (CODEAPI_AUTH_PROVIDER) picks API keys,
   * LibreChat JWTs, or both; {@code jwt} is null when JWTs are not accepted.
   */
  public record Auth(
      boolean enabled,
      List<String> apiKeys,
      boolean rateLimitEnabled,
      Authenticator.Mode provider,
      Jwt jwt,
      Map<RateWindow, Long> jwtRateLimits) {}

  /** How LibreChat's tokens are checked (names as ClickHouse's code interpreter reads them). */
  public record Jwt(
      JwtKeys.Sources keys,
      String issuer,
      String audience,
      java.util.Set<String> allowedAlgorithms,
      Duration clockSkew,
      Duration maxLifetime,
      String singleTenantId,
      boolean strictTenant) {}

  public record Limits(
      Duration maxExecutionTime,
      long maxFileSizeBytes,
      int maxFilesPerRequest,
      int maxOutputFiles,
      int maxSessionFiles,
      long maxSessionStorageBytes,
      int maxOutputBytes,
      long maxJsonBodyBytes,
      int maxConcurrentExecutions,
      int jwtMaxConcurrentExecutions,
      int apiKeyMaxConcurrentExecutions,
      Duration queueTimeout,
      int maxExecFiles,
      int maxFormFields,
      long requestMemoryBytes,
      long sandboxDiskBytes,
      Duration sandboxTransferTimeout) {}

  /**
   * The size of a Kubernetes sandbox's /mnt/data (PodSpecs' emptyDir): what one run's input files
   * can hold there at most, and what its generated files may add up to.
   */
  public static final long KUBERNETES_DATA_DIR_BYTES = 1L << 30;

  public record Sandbox(
      String backend,
      Map<Language, Integer> poolSizes,
      int parallelStarts,
      Duration poolWaitTimeout,
      Duration startTimeout,
      long maxSandboxFileBytes,
      long memoryLimitBytes,
      Path runnerBinary,
      String pythonPreload,
      Path toolsDir,
      String path,
      Map<String, String> toolOverrides,
      Jail jail,
      boolean poolFollowsDemand) {

    public int poolSize(Language language) {
      return poolSizes.getOrDefault(language, 0);
    }
  }

  /**
   * The local backend's jail: per sandbox a tmpfs of {@code diskBytes} and {@code diskInodes} for
   * /mnt/data and /tmp together, a /dev/shm of {@code shmBytes}, {@code cpuLimit} CPUs (0 = none),
   * and a host uid of its own from {@code uidBase + 1} to {@code uidBase + uidCount - 1}. All
   * sandboxes together weigh {@code cpuWeight} times the kernel's default CPU weight against the
   * host's other top-level cgroups and sessions (1 = the default).
   */
  public record Jail(
      long diskBytes,
      int diskInodes,
      long shmBytes,
      double cpuLimit,
      double cpuWeight,
      int uidBase,
      int uidCount,
      boolean cgroupFavorDynmods) {}

  /**
   * The Kubernetes backend (SANDBOX_BACKEND=kubernetes); read even when unused, it is cheap. {@code
   * runNeed}: the longest one run may use its sandbox pod ({@link SandboxUse#ofARun}); a pod with
   * less of its deadline left is not handed out (PodLifetime).
   */
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
      Duration runNeed,
      int maxPods,
      int maxJobs,
      Map<String, String> podEnv,
      Isolation isolation,
      String ownerNamespace,
      Duration ownerLease,
      PodReuse podReuse,
      Duration sessionPodIdle,
      int sessionPodMaxRuns,
      ScratchMedium scratchMedium) {

    /**
     * True when the sandboxes live in another namespace than the API pod: they cannot have it as
     * their owner then (owner references do not cross namespaces), and owner Leases stand in.
     */
    public boolean sandboxesElsewhere() {
      return ownerNamespace != null && !ownerNamespace.equals(namespace);
    }
  }

  /**
   * How sandbox pods are kept apart on a node and what the start-up check tries
   * (docs/kubernetes.md, "Isolation between sandboxes"). {@code userNamespaces}: AUTO (hostUsers:
   * false when the start-up check finds it works, else a distinct uid per pod), ON, OFF (distinct
   * uids only). {@code uidMin}..{@code uidMax}: the distinct uids. {@code apiAddress}: host:port of
   * this API as a sandbox would reach it, or null when unknown; {@code egressTargets}: further
   * addresses a sandbox must not reach. {@code allowUnenforcedNetworkPolicy}
   * (K8S_ALLOW_UNENFORCED_NETWORK_POLICY): make sandboxes even when the check found one could reach
   * what the NetworkPolicy should keep it from, or before any check has shown it cannot. {@code
   * recheckInterval} (K8S_ISOLATION_RECHECK_SECONDS): how often the check runs again once it has
   * run, so a policy removed later is noticed (zero: never). {@code apiAntiAffinity}
   * (K8S_SANDBOX_API_ANTI_AFFINITY): how sandbox pods keep off the nodes of the API pods labelled
   * {@code apiPodLabels} (K8S_API_POD_LABELS; empty: no anti-affinity, the API cannot name its
   * pods). {@code apiNode}: the node this API pod runs on (NODE_NAME), or null when unknown.
   */
  public record Isolation(
      UserNamespaces userNamespaces,
      long uidMin,
      long uidMax,
      String apiAddress,
      List<String> egressTargets,
      boolean allowUnenforcedNetworkPolicy,
      Duration recheckInterval,
      ApiAntiAffinity apiAntiAffinity,
      Map<String, String> apiPodLabels,
      String apiNode) {}

  /**
   * K8S_SANDBOX_API_ANTI_AFFINITY: PREFERRED, the scheduler puts sandbox pods on a node without an
   * API pod when it can; REQUIRED, only there (a sandbox pod stays Pending otherwise); OFF, none.
   */
  public enum ApiAntiAffinity {
    PREFERRED,
    REQUIRED,
    OFF
  }

  /**
   * K8S_SCRATCH_MEDIUM: where a sandbox pod's /mnt/data and /tmp live. DISK, emptyDirs on the
   * node's disk, whose size limits the kubelet enforces by eviction, after the fact; MEMORY, tmpfs
   * emptyDirs, bounded at once (their size, their own inodes) and charged to the pod's memory.
   */
  public enum ScratchMedium {
    DISK,
    MEMORY
  }

  /**
   * K8S_POD_REUSE: NONE, a sandbox pod serves one run; SESSION, it serves the runs of one session
   * (reset between them) until idle, and never another session.
   */
  public enum PodReuse {
    NONE,
    SESSION
  }

  /** K8S_USER_NAMESPACES. */
  public enum UserNamespaces {
    AUTO,
    ON,
    OFF
  }

  /**
   * Python state. Archival (idle state moved from Redis to the object store) only runs with the
   * Redis state store.
   */
  public record State(
      boolean enabled,
      Duration ttl,
      boolean captureOnError,
      long maxBytes,
      boolean archiveEnabled,
      Duration archiveAfter,
      Duration archiveTtl,
      Duration archiveCheckInterval) {}

  /**
   * {@code ttl} ZERO means sessions never expire. The clean-up deletes the files of expired
   * sessions; the orphan sweep deletes stored objects that no file metadata points at.
   *
   * @param ptcContinuationTimeout how long a programmatic run waits for a batch's tool results
   *     before its sandbox is killed (PTC_CONTINUATION_TIMEOUT_SECONDS)
   */
  public record Sessions(
      Duration ttl,
      Duration cleanupInterval,
      boolean orphanSweep,
      Duration queueTimeout,
      Duration ptcContinuationTimeout) {}

  /** Redis, or {@code enabled=false} for the embedded in-memory stores. */
  public record Redis(
      boolean enabled,
      RedisMode mode,
      String host,
      int port,
      int database,
      String username,
      String password,
      List<String> clusterNodes,
      List<String> sentinelNodes,
      String sentinelMaster,
      String sentinelPassword,
      Tls tls,
      String keyPrefix,
      int maxConnections,
      Duration socketTimeout,
      Duration connectTimeout) {}

  /** How Redis is deployed. */
  public enum RedisMode {
    STANDALONE,
    SENTINEL,
    CLUSTER
  }

  /** TLS to Redis: PEM files; a null path means the JDK default (system CAs, no client cert). */
  public record Tls(
      boolean enabled, Path caCerts, Path certFile, Path keyFile, boolean checkHostname) {}

  /**
   * S3-compatible object storage, or {@code enabled=false} for files on local disk. {@code
   * endpoint} is a full URL. Without static keys and with {@code useIam}, credentials come from
   * IRSA (web identity), ECS or the EC2 instance profile.
   */
  public record S3(
      boolean enabled,
      String endpoint,
      String accessKey,
      String secretKey,
      boolean useIam,
      String bucket,
      String region,
      Path caCerts,
      boolean pathStyle) {}

  public record Logging(Level level, boolean json) {}

  /**
   * The operator's side: {@code masterKey} (MASTER_API_KEY, null = admin API and dashboard off)
   * guards the admin API, the dashboard and, unless {@code metricsPublic}, GET /metrics. {@code
   * metricsToken} (METRICS_TOKEN, null = none) opens GET /metrics and nothing else: what Prometheus
   * holds, so that reading its configuration gives no admin rights. {@code usageRetention}: how
   * long per-hour usage is kept. {@code docsEnabled}: GET /openapi.json and the /docs page. {@code
   * dashboardEnabled}: the /admin-dashboard page (with a master key).
   */
  public record Operations(
      String masterKey,
      String metricsToken,
      boolean metricsPublic,
      Duration usageRetention,
      boolean docsEnabled,
      boolean dashboardEnabled,
      Duration healthCacheMaxAge) {

    public boolean adminEnabled() {
      return masterKey != null;
    }
  }

  public static Config fromEnvironment() {
    return from(System.getenv());
  }

  public static Config from(Map<String, String> vars) {
    Env env = new Env(vars);
    Server server =
        new Server(
            env.string("API_HOST", "0.0.0.0"),
            env.integer("API_PORT", 8000, 0, 65535),
            env.seconds("SHUTDOWN_GRACE_SECONDS", 30, 0, 3600),
            env.seconds("DOWNLOAD_SEND_TIMEOUT_SECONDS", 60, 1, 3600),
            env.integer("MAX_CONNECTIONS", 512, 8, 100_000),
            env.integer("MAX_CONCURRENT_REQUESTS", 256, 4, 100_000),
            env.seconds("IDLE_CONNECTION_TIMEOUT_SECONDS", 60, 1, 3600),
            1024L * env.integer("REQUEST_BODY_MIN_KIB_PER_SECOND", 16, 1, 1_048_576),
            new FailedCredentials(
                env.integer("AUTH_FAILURE_LIMIT", 20, 0, 1_000_000),
                env.seconds("AUTH_FAILURE_WINDOW_SECONDS", 60, 1, 86_400),
                env.integer("AUTH_FAILURE_MAX_ADDRESSES", 10_000, 100, 10_000_000)),
            networks(env, "TRUSTED_PROXIES"));

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
    Auth auth = auth(env, authEnabled, keys);

    int maxFileMb = env.integer("MAX_FILE_SIZE_MB", 150, 1, 100_000);

    Map<Language, Integer> pools = new EnumMap<>(Language.class);
    for (Language lang : Language.values()) {
      pools.put(
          lang,
          env.integer(
              "POD_POOL_" + lang.code().toUpperCase(Locale.ROOT), lang.defaultPoolSize(), 0, 100));
    }
    String backend = env.string("SANDBOX_BACKEND", "local").toLowerCase(Locale.ROOT);
    if (!backend.equals("local") && !backend.equals("kubernetes")) {
      throw new ConfigException(
          "SANDBOX_BACKEND=" + backend + " is not supported (supported: local, kubernetes)");
    }
    Path toolsDir = Path.of(env.string("KCR_TOOLS_DIR", "/opt/kubecoderun"));
    int sandboxFileMb = env.integer("SANDBOX_MAX_FILE_SIZE_MB", 1024, 1, 1_000_000);
    if (sandboxFileMb < maxFileMb) {
      throw new ConfigException(
          "SANDBOX_MAX_FILE_SIZE_MB="
              + sandboxFileMb
              + " is below MAX_FILE_SIZE_MB="
              + maxFileMb
              + ": input files would not fit in the sandbox");
    }
    int memoryMb = env.integer("SANDBOX_MEMORY_LIMIT_MB", 1024, 0, 1_000_000);
    if (memoryMb > 0 && memoryMb < 256) {
      throw new ConfigException(
          "SANDBOX_MEMORY_LIMIT_MB="
              + memoryMb
              + " leaves no room for a warm Python with numpy, pandas and matplotlib; use 256 or"
              + " more, or 0 for no limit");
    }
    int diskMb = env.integer("SANDBOX_DISK_LIMIT_MB", 1024, 16, 1_000_000);
    if (diskMb < maxFileMb) {
      throw new ConfigException(
          "SANDBOX_DISK_LIMIT_MB="
              + diskMb
              + " is below MAX_FILE_SIZE_MB="
              + maxFileMb
              + ": an input file would not fit in the sandbox");
    }
    Sandbox sandbox =
        new Sandbox(
            backend,
            Map.copyOf(pools),
            env.integer("POD_POOL_PARALLEL_BATCH", 2, 1, 64),
            // A Job costs seconds: wait for a warm pod. A local sandbox costs milliseconds: make
            // one
            // at once when the pool is empty.
            env.seconds("POD_POOL_WAIT_SECONDS", backend.equals("kubernetes") ? 10 : 0, 0, 600),
            env.seconds("SANDBOX_START_TIMEOUT_SECONDS", 30, 1, 600),
            sandboxFileMb * 1024L * 1024L,
            memoryMb * 1024L * 1024L,
            Path.of(env.string("RUNNER_BIN", "target/runner")).toAbsolutePath(),
            env.string("RUNNER_PY_PRELOAD", "numpy,pandas,matplotlib"),
            toolsDir,
            env.string("PATH", "/usr/local/bin:/usr/bin:/bin"),
            env.withPrefix("RUNNER_TOOL_"),
            new Jail(
                diskMb * 1024L * 1024L,
                env.integer("SANDBOX_DISK_INODES", 16384, 256, 100_000_000),
                env.integer("SANDBOX_SHM_SIZE_MB", 64, 1, 1_000_000) * 1024L * 1024L,
                env.decimal("SANDBOX_CPU_LIMIT", 1.0, 0, 1024),
                // At the default weight all runs together get no more CPU than the API's own
                // session: runs in progress then compete with new requests and new sandboxes, and
                // their latency spreads (p99 at 8 clients on 2 cores: ~55 ms at 1, ~47 ms at 4).
                env.decimal("SANDBOX_CPU_WEIGHT", 4.0, 0.01, 100),
                env.integer("SANDBOX_UID_BASE", 1_500_000, 1000, 2_000_000_000),
                env.integer("SANDBOX_UID_COUNT", 4096, 16, 1_000_000),
                env.bool("SANDBOX_CGROUP_FAVORDYNMODS", true)),
            // Pool sizes follow demand on Kubernetes (within K8S_MAX_PODS); the local backend's
            // sandboxes are cheap to start and share the API's machine.
            env.bool("POD_POOL_FOLLOW_DEMAND", backend.equals("kubernetes")));

    int maxExecutions = env.integer("MAX_CONCURRENT_EXECUTIONS", 8, 1, 10_000);
    Limits limits =
        new Limits(
            env.seconds("MAX_EXECUTION_TIME", 30, 1, 600),
            maxFileMb * 1024L * 1024L,
            env.integer("MAX_FILES_PER_REQUEST", 50, 1, 10_000),
            env.integer("MAX_OUTPUT_FILES", 20, 0, 1000),
            // Files accumulate in a session (each run's outputs, each modified file anew) and a
            // listing loads them all: 250 runs of a conversation each keeping the most a run may
            // (MAX_OUTPUT_FILES) fit, a loop of uploads into one session does not go on for ever.
            env.integer("MAX_SESSION_FILES", 5000, 1, 100_000),
            // The bytes of those files together: without it one session could hold
            // MAX_SESSION_FILES files of MAX_FILE_SIZE_MB each (730 GiB by default) and fill the
            // file store. 4 GiB is far more than a conversation's data and results take.
            env.integer("MAX_SESSION_STORAGE_MB", 4096, 1, 100_000_000) * 1024L * 1024L,
            env.integer("MAX_OUTPUT_SIZE", 1024 * 1024, 1024, 64 * 1024 * 1024),
            env.integer("MAX_REQUEST_BODY_MB", 10, 1, 1024) * 1024L * 1024L,
            maxExecutions,
            // One LibreChat user never holds every slot (a paused programmatic run holds one),
            // and an agent's parallel calls (in sessions of their own) still fit.
            env.integer(
                "JWT_MAX_CONCURRENT_EXECUTIONS", Math.max(1, maxExecutions / 2), 1, maxExecutions),
            // Opt-in: a managed key is often a whole LibreChat. 0: none.
            env.integer("API_KEY_MAX_CONCURRENT_EXECUTIONS", 0, 0, maxExecutions),
            env.seconds("EXECUTION_QUEUE_TIMEOUT_SECONDS", 30, 0, 3600),
            env.integer("MAX_EXEC_FILES", 500, 1, 10_000),
            env.integer("MAX_FORM_FIELDS", 32, 1, 1000),
            requestMemory(env.integer("REQUEST_MEMORY_BUDGET_MB", 0, 0, 1_000_000)),
            // One run's inputs are placed on its sandbox's disk: more than it holds never runs. Its
            // generated files were written there too: together they are kept up to what it holds.
            backend.equals("kubernetes") ? KUBERNETES_DATA_DIR_BYTES : diskMb * 1024L * 1024L,
            env.seconds("SANDBOX_TRANSFER_TIMEOUT_SECONDS", 600, 1, 3600));

    State state =
        new State(
            env.bool("STATE_PERSISTENCE_ENABLED", true),
            env.seconds("STATE_TTL_SECONDS", 7200, 60, 30 * 86400),
            env.bool("STATE_CAPTURE_ON_ERROR", false),
            env.integer("STATE_MAX_SIZE_MB", 50, 1, 1024) * 1024L * 1024L,
            env.bool("STATE_ARCHIVE_ENABLED", true),
            env.seconds("STATE_ARCHIVE_AFTER_SECONDS", 3600, 60, 30 * 86400),
            Duration.ofDays(env.integer("STATE_ARCHIVE_TTL_DAYS", 7, 1, 365)),
            env.seconds("STATE_ARCHIVE_CHECK_INTERVAL_SECONDS", 300, 1, 86400));
    Sessions sessions =
        new Sessions(
            Duration.ofHours(env.integer("SESSION_TTL_HOURS", 0, 0, 87600)),
            Duration.ofMinutes(env.integer("SESSION_CLEANUP_INTERVAL_MINUTES", 10, 1, 1440)),
            env.bool("ENABLE_ORPHAN_MINIO_CLEANUP", true),
            // A run waits for the runs of its session before it: by default two whole runs.
            env.seconds(
                "SESSION_QUEUE_TIMEOUT_SECONDS",
                (int) Math.max(60, 2 * limits.maxExecutionTime().toSeconds()),
                0,
                3600),
            env.seconds("PTC_CONTINUATION_TIMEOUT_SECONDS", 120, 1, 3600));

    Path dataDir = Path.of(env.string("DATA_DIR", "data")).toAbsolutePath().normalize();
    String format = env.string("LOG_FORMAT", "json").toLowerCase(Locale.ROOT);
    if (!format.equals("json") && !format.equals("text")) {
      throw new ConfigException("LOG_FORMAT=" + format + " must be json or text");
    }
    Logging logging = new Logging(logLevel(env.string("LOG_LEVEL", "INFO")), format.equals("json"));
    // What a run may use of a sandbox pod: the Kubernetes deadlines left unset follow it, and set
    // ones must leave room for it, or Kubernetes would kill runs these settings allow.
    Duration need = SandboxUse.ofARun(limits, sessions);
    Kubernetes kubernetes =
        KubernetesConfig.read(env, need, sandbox.startTimeout(), backend.equals("kubernetes"));
    return new Config(
        server,
        auth,
        limits,
        sandbox,
        state,
        sessions,
        redis(env),
        s3(env),
        dataDir,
        logging,
        kubernetes,
        operations(env, keys));
  }

  /**
   * host:port of every store server the API talks to: Redis (its host, cluster and sentinel nodes)
   * and the S3 endpoint. What a sandbox must not reach: the Kubernetes backend's start-up check has
   * one try them.
   */
  public List<String> storeAddresses() {
    java.util.LinkedHashSet<String> out = new java.util.LinkedHashSet<>();
    if (redis.enabled()) {
      // The host serves in standalone mode only: the nodes name the servers of the others.
      if (redis.mode() == RedisMode.STANDALONE && redis.host() != null) {
        out.add(hostPort(redis.host(), redis.port()));
      }
      out.addAll(redis.clusterNodes());
      out.addAll(redis.sentinelNodes());
    }
    if (s3.enabled()) {
      java.net.URI u = java.net.URI.create(s3.endpoint());
      if (u.getHost() != null) {
        int port =
            u.getPort() > 0 ? u.getPort() : "https".equalsIgnoreCase(u.getScheme()) ? 443 : 80;
        out.add(hostPort(u.getHost(), port));
      }
    }
    return List.copyOf(out);
  }

  /** host:port, an IPv6 address in brackets. */
  private static String hostPort(String host, int port) {
    return (host.contains(":") && !host.startsWith("[") ? "[" + host + "]" : host) + ":" + port;
  }

  /** REQUEST_MEMORY_BUDGET_MB, or with 0 a quarter of the JVM's largest heap. */
  private static long requestMemory(int mb) {
    return mb > 0 ? mb * 1024L * 1024L : Runtime.getRuntime().maxMemory() / 4;
  }

  private static Operations operations(Env env, List<String> apiKeys) {
    String master = env.string("MASTER_API_KEY", null);
    if (master != null) {
      if (master.length() < 32) {
        throw new ConfigException(
            "MASTER_API_KEY must be at least 32 characters (it opens the admin API)");
      }
      // It travels in an HTTP header: browsers refuse to send other characters there (the
      // dashboard could never sign in), and other clients would send bytes that never match.
      if (!master.chars().allMatch(c -> c >= 0x20 && c <= 0x7e)) {
        throw new ConfigException(
            "MASTER_API_KEY must be printable ASCII only (letters, digits, punctuation, spaces):"
                + " it is sent in an HTTP header");
      }
      if (apiKeys.contains(master)) {
        throw new ConfigException(
            "MASTER_API_KEY must differ from every API key (API_KEY / API_KEYS)");
      }
    }
    String metricsToken = env.string("METRICS_TOKEN", null);
    if (metricsToken != null) {
      if (metricsToken.length() < 32) {
        throw new ConfigException("METRICS_TOKEN must be at least 32 characters");
      }
      // The same secret would give Prometheus the admin API, or a client the metrics.
      if (metricsToken.equals(master) || apiKeys.contains(metricsToken)) {
        throw new ConfigException(
            "METRICS_TOKEN must differ from MASTER_API_KEY and from every API key");
      }
    }
    return new Operations(
        master,
        metricsToken,
        env.bool("METRICS_PUBLIC", false),
        Duration.ofDays(env.integer("USAGE_RETENTION_DAYS", 30, 1, 400)),
        env.bool("ENABLE_DOCS", true),
        env.bool("ADMIN_DASHBOARD_ENABLED", true),
        env.seconds("HEALTH_CACHE_SECONDS", 30, 0, 3600));
  }

  /**
   * CODEAPI_AUTH_PROVIDER and the CODEAPI_JWT_* settings, with the names and defaults of
   * ClickHouse's code interpreter (LibreChat's reference server). Unset, the provider is {@code
   * both} when a JWT key is configured and {@code legacy-api-key} otherwise, so a deployment that
   * only sets API_KEY behaves as before and one that adds a JWT key needs nothing else.
   */
  private static Auth auth(Env env, boolean enabled, List<String> keys) {
    String sourceKid = env.firstOf(null, "CODEAPI_JWT_KID", "CODEAPI_JWT_KEY_ID");
    String dir = env.string("CODEAPI_JWT_PUBLIC_KEYS_DIR", null);
    String file = env.string("CODEAPI_JWT_JWKS_FILE", null);
    JwtKeys.Sources sources =
        new JwtKeys.Sources(
            env.string("CODEAPI_JWT_PUBLIC_KEY", null),
            env.string("CODEAPI_JWT_PUBLIC_KEY_BASE64", null),
            sourceKid,
            env.string("CODEAPI_JWT_JWKS_JSON", null),
            file == null ? null : Path.of(file),
            dir == null ? null : Path.of(dir),
            env.seconds("CODEAPI_JWT_KEY_CACHE_TTL_SECONDS", 30, 1, 300));
    String providerName =
        env.string("CODEAPI_AUTH_PROVIDER", sources.any() ? "both" : "legacy-api-key");
    Authenticator.Mode provider = Authenticator.Mode.parse(providerName);
    if (provider == null) {
      throw new ConfigException(
          "CODEAPI_AUTH_PROVIDER="
              + providerName
              + " must be librechat-jwt, both or legacy-api-key"
              + (providerName.equalsIgnoreCase("none")
                  ? " (to run without authentication, set AUTH_ENABLED=false)"
                  : ""));
    }
    Jwt jwt = null;
    if (provider != Authenticator.Mode.LEGACY_API_KEY) {
      if (enabled && !sources.any()) {
        throw new ConfigException(
            "CODEAPI_AUTH_PROVIDER="
                + provider.setting()
                + " needs a public key: CODEAPI_JWT_PUBLIC_KEY, CODEAPI_JWT_PUBLIC_KEY_BASE64,"
                + " CODEAPI_JWT_JWKS_JSON, CODEAPI_JWT_JWKS_FILE or CODEAPI_JWT_PUBLIC_KEYS_DIR");
      }
      java.util.Set<String> algs = new java.util.LinkedHashSet<>();
      for (String a : env.list("CODEAPI_JWT_ALLOWED_ALGS")) {
        if (!a.equals("EdDSA") && !a.equals("RS256")) {
          throw new ConfigException(
              "CODEAPI_JWT_ALLOWED_ALGS: " + a + " is not supported (EdDSA and RS256 are)");
        }
        algs.add(a);
      }
      if (algs.isEmpty()) {
        algs.add("EdDSA");
        algs.add("RS256");
      }
      jwt =
          new Jwt(
              sources,
              env.string("CODEAPI_JWT_ISSUER", "librechat"),
              env.string("CODEAPI_JWT_AUDIENCE", "codeapi"),
              java.util.Set.copyOf(algs),
              env.seconds("CODEAPI_JWT_CLOCK_SKEW_SECONDS", 30, 0, 30),
              env.seconds("CODEAPI_JWT_MAX_TTL_SECONDS", 300, 1, 300),
              env.string("CODEAPI_JWT_SINGLE_TENANT_ID", "legacy"),
              env.bool("CODEAPI_TENANT_ISOLATION_STRICT", false));
    }
    if (enabled && provider == Authenticator.Mode.LEGACY_API_KEY && keys.isEmpty()) {
      throw new ConfigException(
          "No API key configured: set API_KEY (or API_KEYS), configure LibreChat's JWT key"
              + " (CODEAPI_JWT_PUBLIC_KEY, ...), or AUTH_ENABLED=false to run without"
              + " authentication");
    }
    return new Auth(
        enabled,
        List.copyOf(keys),
        env.bool("RATE_LIMIT_ENABLED", true),
        provider,
        jwt,
        rateLimits(env, "JWT_RATE_LIMITS"));
  }

  /** A comma-separated list of networks (CIDRs) or addresses; a bad one names the variable. */
  private static List<ClientAddress.Cidr> networks(Env env, String name) {
    List<ClientAddress.Cidr> out = new java.util.ArrayList<>();
    for (String part : env.list(name)) {
      try {
        out.add(ClientAddress.Cidr.parse(part));
      } catch (IllegalArgumentException e) {
        throw new ConfigException(name + ": " + e.getMessage());
      }
    }
    return List.copyOf(out);
  }

  /** {@code per_minute=60,hourly=1000}: the window names of managed keys' limits. */
  private static Map<RateWindow, Long> rateLimits(Env env, String name) {
    Map<RateWindow, Long> limits = new EnumMap<>(RateWindow.class);
    for (String part : env.list(name)) {
      String[] kv = part.split("=", 2);
      RateWindow window = null;
      for (RateWindow w : RateWindow.values()) {
        if (w.label().equals(kv[0].trim())) {
          window = w;
        }
      }
      long n;
      try {
        n = kv.length == 2 ? Long.parseLong(kv[1].trim()) : -1;
      } catch (NumberFormatException e) {
        n = -1;
      }
      if (window == null || n < 1) {
        throw new ConfigException(
            name
                + ": '"
                + part
                + "' must be WINDOW=COUNT with WINDOW one of per_second, per_minute, hourly, daily,"
                + " monthly and COUNT at least 1");
      }
      limits.put(window, n);
    }
    return Map.copyOf(limits);
  }

  /**
   * Redis is used when REDIS_URL or REDIS_HOST is set, or REDIS_MODE names sentinel or cluster.
   * REDIS_URL ({@code redis://[user:password@]host:port[/db]}, {@code rediss://} for TLS) overrides
   * host, port, database and password.
   */
  private static Redis redis(Env env) {
    RedisMode mode =
        switch (env.string("REDIS_MODE", "standalone").toLowerCase(Locale.ROOT)) {
          case "standalone" -> RedisMode.STANDALONE;
          case "sentinel" -> RedisMode.SENTINEL;
          case "cluster" -> RedisMode.CLUSTER;
          default ->
              throw new ConfigException(
                  "REDIS_MODE="
                      + env.string("REDIS_MODE", "")
                      + " must be standalone|sentinel|cluster");
        };
    String url = env.string("REDIS_URL", null);
    String host = env.string("REDIS_HOST", null);
    boolean enabled = url != null || host != null || mode != RedisMode.STANDALONE;
    int port = env.integer("REDIS_PORT", 6379, 1, 65535);
    int db = env.integer("REDIS_DB", 0, 0, 1000);
    String user = null;
    String password = env.string("REDIS_PASSWORD", null);
    boolean tls = env.bool("REDIS_SSL", false);
    if (url != null) {
      java.net.URI uri;
      try {
        uri = java.net.URI.create(url);
      } catch (IllegalArgumentException e) {
        throw new ConfigException("REDIS_URL is not a valid URL: " + e.getMessage());
      }
      String scheme = String.valueOf(uri.getScheme()).toLowerCase(Locale.ROOT);
      if (!scheme.equals("redis") && !scheme.equals("rediss") || uri.getHost() == null) {
        throw new ConfigException(
            "REDIS_URL must look like redis://[user:password@]host:port[/db]");
      }
      host = uri.getHost();
      port = uri.getPort() > 0 ? uri.getPort() : 6379;
      tls = tls || scheme.equals("rediss");
      String path = uri.getPath() == null ? "" : uri.getPath().replace("/", "");
      if (!path.isEmpty()) {
        try {
          db = Integer.parseInt(path);
        } catch (NumberFormatException e) {
          throw new ConfigException("REDIS_URL database '" + path + "' is not a number");
        }
      }
      String info = uri.getRawUserInfo();
      if (info != null) {
        int colon = info.indexOf(':');
        String u = colon < 0 ? "" : decode(info.substring(0, colon));
        String p = decode(colon < 0 ? info : info.substring(colon + 1));
        user = u.isEmpty() ? null : u;
        password = p.isEmpty() ? password : p;
      }
    }
    List<String> clusterNodes = env.list("REDIS_CLUSTER_NODES");
    List<String> sentinelNodes = env.list("REDIS_SENTINEL_NODES");
    if (mode == RedisMode.CLUSTER && clusterNodes.isEmpty()) {
      if (host == null) {
        throw new ConfigException("REDIS_MODE=cluster needs REDIS_CLUSTER_NODES (host:port,...)");
      }
      clusterNodes = List.of(host + ":" + port);
    }
    if (mode == RedisMode.SENTINEL && sentinelNodes.isEmpty()) {
      throw new ConfigException("REDIS_MODE=sentinel needs REDIS_SENTINEL_NODES (host:port,...)");
    }
    for (String node : concat(clusterNodes, sentinelNodes)) {
      if (!node.matches("[^:\\s]+:\\d{1,5}")) {
        throw new ConfigException("Redis node '" + node + "' must be host:port");
      }
    }
    Tls tlsConfig =
        new Tls(
            tls,
            path(env, "REDIS_SSL_CA_CERTS"),
            path(env, "REDIS_SSL_CERTFILE"),
            path(env, "REDIS_SSL_KEYFILE"),
            env.bool("REDIS_SSL_CHECK_HOSTNAME", true));
    if ((tlsConfig.certFile() == null) != (tlsConfig.keyFile() == null)) {
      throw new ConfigException("REDIS_SSL_CERTFILE and REDIS_SSL_KEYFILE go together");
    }
    return new Redis(
        enabled,
        mode,
        host == null ? "localhost" : host,
        port,
        db,
        user,
        password,
        List.copyOf(clusterNodes),
        List.copyOf(sentinelNodes),
        env.string("REDIS_SENTINEL_MASTER", "mymaster"),
        env.string("REDIS_SENTINEL_PASSWORD", null),
        tlsConfig,
        env.string("REDIS_KEY_PREFIX", ""),
        env.integer("REDIS_MAX_CONNECTIONS", 20, 1, 10_000),
        env.seconds("REDIS_SOCKET_TIMEOUT", 5, 1, 600),
        env.seconds("REDIS_SOCKET_CONNECT_TIMEOUT", 5, 1, 600));
  }

  /**
   * S3 is used when MINIO_ENDPOINT is set: {@code host:port} (MINIO_SECURE picks https) or a full
   * URL.
   */
  private static S3 s3(Env env) {
    String endpoint = env.string("MINIO_ENDPOINT", null);
    boolean secure = env.bool("MINIO_SECURE", false);
    String accessKey = env.firstOf(null, "MINIO_ACCESS_KEY", "AWS_ACCESS_KEY_ID");
    String secretKey = env.firstOf(null, "MINIO_SECRET_KEY", "AWS_SECRET_ACCESS_KEY");
    boolean useIam = env.bool("MINIO_USE_IAM", false);
    String bucket = env.string("MINIO_BUCKET", "kubecoderun-files");
    if (endpoint != null) {
      if (!endpoint.contains("://")) {
        endpoint = (secure ? "https://" : "http://") + endpoint;
      }
      if (!useIam && (accessKey == null || secretKey == null)) {
        throw new ConfigException(
            "MINIO_ENDPOINT needs MINIO_ACCESS_KEY and MINIO_SECRET_KEY (or MINIO_USE_IAM=true)");
      }
      if (!bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
        throw new ConfigException("MINIO_BUCKET=" + bucket + " is not a valid bucket name");
      }
    }
    return new S3(
        endpoint != null,
        endpoint,
        accessKey,
        secretKey,
        useIam,
        bucket,
        env.string("MINIO_REGION", "us-east-1"),
        path(env, "MINIO_CA_CERTS"),
        env.bool("MINIO_PATH_STYLE", false));
  }

  /** The Python version's level names, and java.util.logging's own. */
  private static Level logLevel(String name) {
    return switch (name.toUpperCase(Locale.ROOT)) {
      case "CRITICAL", "ERROR", "SEVERE" -> Level.SEVERE;
      case "WARNING", "WARN" -> Level.WARNING;
      case "INFO" -> Level.INFO;
      case "DEBUG", "FINE" -> Level.FINE;
      case "CONFIG" -> Level.CONFIG;
      case "FINER" -> Level.FINER;
      case "FINEST" -> Level.FINEST;
      case "ALL" -> Level.ALL;
      case "OFF" -> Level.OFF;
      default ->
          throw new ConfigException(
              "LOG_LEVEL="
                  + name
                  + " is not a level: DEBUG, INFO, WARNING, ERROR or CRITICAL"
                  + " (or java.util.logging's FINE, SEVERE, ...)");
    };
  }

  private static Path path(Env env, String name) {
    String v = env.string(name, null);
    return v == null ? null : Path.of(v);
  }

  private static String decode(String s) {
    // Percent-decoding only: a '+' in a password is a plus, not a space.
    return java.net.URLDecoder.decode(
        s.replace("+", "%2B"), java.nio.charset.StandardCharsets.UTF_8);
  }

  private static List<String> concat(List<String> a, List<String> b) {
    List<String> all = new java.util.ArrayList<>(a);
    all.addAll(b);
    return all;
  }
}
