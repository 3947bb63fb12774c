package dev.kubecoderun;

import dev.kubecoderun.admin.KeyAdmin;
import dev.kubecoderun.admin.LocalUsageStore;
import dev.kubecoderun.admin.RedisUsageStore;
import dev.kubecoderun.admin.Usage;
import dev.kubecoderun.admin.UsageStore;
import dev.kubecoderun.api.ApiServer;
import dev.kubecoderun.auth.ApiKeyStore;
import dev.kubecoderun.auth.Authenticator;
import dev.kubecoderun.auth.ClientAddress;
import dev.kubecoderun.auth.CredentialThrottle;
import dev.kubecoderun.auth.EnvApiKeys;
import dev.kubecoderun.auth.JwtKeys;
import dev.kubecoderun.auth.JwtVerifier;
import dev.kubecoderun.auth.LocalApiKeyStore;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.auth.RateLimiter;
import dev.kubecoderun.auth.RedisApiKeyStore;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.execution.ExecutionService;
import dev.kubecoderun.execution.LocalProgrammaticStore;
import dev.kubecoderun.execution.PrincipalRuns;
import dev.kubecoderun.execution.ProgrammaticService;
import dev.kubecoderun.execution.RedisProgrammaticStore;
import dev.kubecoderun.files.CountingObjectStore;
import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.LocalDisk;
import dev.kubecoderun.files.LocalFileMetadataStore;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.OrphanSweeper;
import dev.kubecoderun.files.RedisFileMetadataStore;
import dev.kubecoderun.files.S3ObjectStore;
import dev.kubecoderun.files.StorageHealthCheck;
import dev.kubecoderun.language.LanguageCatalog;
import dev.kubecoderun.language.Libraries;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.redis.RedisClients;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.redis.RedisHealthCheck;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.RunnerSettings;
import dev.kubecoderun.sandbox.SandboxFactory;
import dev.kubecoderun.sandbox.SandboxHealthCheck;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.sandbox.SessionSandboxes;
import dev.kubecoderun.sandbox.kubernetes.KubernetesSandboxFactory;
import dev.kubecoderun.sandbox.local.InstalledVersions;
import dev.kubecoderun.sandbox.local.LocalSandboxFactory;
import dev.kubecoderun.sandbox.local.Toolchains;
import dev.kubecoderun.session.ExpiredSessions;
import dev.kubecoderun.session.LocalSessionLocks;
import dev.kubecoderun.session.LocalSessionStore;
import dev.kubecoderun.session.RedisSessionLocks;
import dev.kubecoderun.session.RedisSessionStore;
import dev.kubecoderun.session.SessionCleaner;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionResolver;
import dev.kubecoderun.session.SessionStore;
import dev.kubecoderun.session.SessionsAndFiles;
import dev.kubecoderun.state.LocalStateStore;
import dev.kubecoderun.state.RedisStateStore;
import dev.kubecoderun.state.StateArchive;
import dev.kubecoderun.state.StateArchiver;
import dev.kubecoderun.state.StateStore;
import dev.kubecoderun.state.StateWrites;
import io.helidon.health.HealthCheck;
import io.helidon.webclient.api.WebClient;
import io.helidon.webserver.WebServer;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.logging.Logger;
import java.util.stream.Collectors;

/** The one wiring class: builds every component by hand, starts them, stops them in order. */
public final class Application implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(Application.class.getName());

  /** The version pom.xml sets, as the build wrote it into version.properties. */
  public static final String VERSION = readVersion();

  private final Config config;
  private final SandboxPool pool;
  private final SessionSandboxes sessionSandboxes; // null: one sandbox per run
  private final ExecutionSlots slots;
  private final WebServer server;
  private final Housekeeping housekeeping;
  private final RedisConnection redis;
  private final Metrics metrics;
  private final UsageStore usageStore;

  /**
   * @param factoryOverride the sandbox backend to use instead of the one {@code config} names (the
   *     benchmarks plug in a stub runner), or null
   * @param clock what sessions, files, states and keys are dated by (a test moves it on)
   */
  private Application(Config config, SandboxFactory factoryOverride, Clock clock) {
    this.config = config;
    requireWritable(config.dataDir());
    // What writes cut off by the last process's end left (the orphan sweep does it again later).
    LocalDisk.deleteStaleTemporaries(config.dataDir(), clock.instant());
    requireFreePort(config.server().host(), config.server().port());
    metrics = new Metrics();

    // Stores: Redis and S3 when configured, else the embedded ones (memory + local disk).
    List<HealthCheck> checks = new ArrayList<>();
    ObjectStore objects;
    if (config.s3().enabled()) {
      objects =
          new CountingObjectStore(
              S3ObjectStore.create(config.s3()), () -> metrics.storeError("s3"));
      checks.add(new StorageHealthCheck(objects, "s3"));
    } else {
      objects =
          new CountingObjectStore(
              new LocalObjectStore(config.dataDir()), () -> metrics.storeError("local"));
      checks.add(new StorageHealthCheck(objects, "storage"));
    }
    Duration sessionTtl = config.sessions().ttl();
    FileMetadataStore metadata;
    SessionStore sessionStore;
    StateStore states;
    ApiKeyStore keyStore;
    SessionLocks sessionLocks;
    // One budget of what requests and runs buffer, all together (REQUEST_MEMORY_BUDGET_MB); the
    // state archival draws on it too.
    MemoryBudget memory = new MemoryBudget(config.limits().requestMemoryBytes());
    StateArchiver archiver = null;
    if (config.redis().enabled()) {
      redis = RedisClients.connect(config.redis(), () -> metrics.storeError("redis"));
      checks.add(0, new RedisHealthCheck(redis, config.redis().mode().name().toLowerCase()));
      metadata = new RedisFileMetadataStore(redis, sessionTtl);
      sessionStore = new RedisSessionStore(redis, clock);
      keyStore = new RedisApiKeyStore(redis);
      usageStore = new RedisUsageStore(redis, config.operations().usageRetention());
      sessionLocks = new RedisSessionLocks(redis);
      boolean archive =
          config.state().archiveEnabled()
              && config.state().ttl().compareTo(config.state().archiveAfter()) > 0;
      StateArchive stateArchive = archive ? new StateArchive(objects) : null;
      RedisStateStore redisStates =
          new RedisStateStore(redis, config.state().ttl(), clock, stateArchive);
      states = redisStates;
      if (archive) {
        archiver =
            new StateArchiver(
                redisStates, sessionLocks, stateArchive, config.state(), clock, memory);
      }
    } else {
      redis = null;
      metadata = new LocalFileMetadataStore(config.dataDir());
      sessionStore = new LocalSessionStore(config.dataDir(), clock);
      keyStore = new LocalApiKeyStore(clock, config.dataDir());
      usageStore =
          new LocalUsageStore(config.dataDir(), config.operations().usageRetention(), clock);
      sessionLocks = new LocalSessionLocks();
      states = new LocalStateStore(config.dataDir(), config.state().ttl(), clock);
    }
    SessionsAndFiles wired =
        SessionsAndFiles.wire(
            sessionStore,
            metadata,
            objects,
            states,
            sessionLocks,
            clock,
            sessionTtl,
            config.sessions().queueTimeout());
    ExpiredSessions expired = wired.expired();
    SessionResolver sessions = wired.sessions();
    FileService files = wired.files();

    housekeeping = new Housekeeping();
    SessionCleaner cleaner = new SessionCleaner(sessionStore, expired);
    housekeeping.every("session clean-up", config.sessions().cleanupInterval(), cleaner::runOnce);
    if (config.sessions().orphanSweep()) {
      OrphanSweeper sweeper = new OrphanSweeper(objects, metadata, clock, config.dataDir());
      housekeeping.every("orphan sweep", config.sessions().cleanupInterval(), sweeper::runOnce);
    }
    if (archiver != null) {
      housekeeping.every(
          "state archival", config.state().archiveCheckInterval(), archiver::runOnce);
    }

    WebClient http =
        WebClient.builder()
            .connectTimeout(Duration.ofSeconds(5))
            .readTimeout(Duration.ofSeconds(30))
            // Headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm
            // holds the second one until the runner's delayed ACK, tens of ms per call.
            .socketOptions(o -> o.tcpNoDelay(true))
            .followRedirects(false)
            .build();
    SandboxFactory factory =
        factoryOverride != null ? factoryOverride : sandboxFactory(config, http, checks);
    KubernetesSandboxFactory kubernetes =
        factory instanceof KubernetesSandboxFactory k ? k : null; // its check once we listen
    LanguageCatalog languages = languageCatalog(config);
    pool =
        new SandboxPool(
            factory,
            config.sandbox()::poolSize,
            config.sandbox().parallelStarts(),
            config.sandbox().poolWaitTimeout(),
            !config.sandbox().poolFollowsDemand()
                ? 0
                : config.sandbox().backend().equals("kubernetes")
                    ? config.kubernetes().maxPods()
                    : config.limits().maxConcurrentExecutions(),
            metrics);
    slots =
        new ExecutionSlots(
            config.limits().maxConcurrentExecutions(), config.limits().queueTimeout(), metrics);
    // K8S_POD_REUSE=session: a pod serves the runs of one session, at most half the pods kept so.
    sessionSandboxes =
        config.sandbox().backend().equals("kubernetes")
                && config.kubernetes().podReuse() == Config.PodReuse.SESSION
            ? new SessionSandboxes(
                pool,
                config.kubernetes().sessionPodIdle(),
                config.kubernetes().sessionPodMaxRuns(),
                Math.max(1, config.kubernetes().maxPods() / 2))
            : null;
    if (kubernetes != null && sessionSandboxes != null) {
      kubernetes.takeSlotsFromIdle(sessionSandboxes); // kept Jobs must not hold K8S_MAX_JOBS
    }
    checks.add(new SandboxHealthCheck(pool, slots, sessionSandboxes));
    metrics.requestMemory(memory::held, memory.capacity(), memory::waiting);
    ExecutionService executions =
        new ExecutionService(
            sessions,
            files,
            states,
            pool,
            slots,
            config.limits(),
            config.state(),
            sessionLocks,
            config.sessions().queueTimeout(),
            sessionSandboxes,
            memory,
            new PrincipalRuns(
                config.limits().jwtMaxConcurrentExecutions(),
                config.limits().apiKeyMaxConcurrentExecutions(),
                config.auth().apiKeys().stream()
                    .map(k -> Principal.apiKey(k).user())
                    .collect(Collectors.toSet())));

    // One count per client address for every secret it tries: API keys, master key, metrics token.
    // The address is the connection's, or behind a trusted proxy (TRUSTED_PROXIES) the client's.
    Config.FailedCredentials failures = config.server().failedCredentials();
    List<String> configured = new ArrayList<>(config.auth().apiKeys());
    configured.add(config.operations().masterKey());
    configured.add(config.operations().metricsToken());
    CredentialThrottle throttle =
        new CredentialThrottle(
            failures.limit(), failures.window(), failures.maxAddresses(), clock, configured);
    ClientAddress clients = new ClientAddress(config.server().trustedProxies());
    ApiServer.AuthSettings auth = null;
    if (config.auth().enabled()) {
      auth =
          new ApiServer.AuthSettings(
              authenticator(config.auth(), keyStore, clock),
              throttle,
              clients,
              config.limits().maxJsonBodyBytes());
    } else {
      LOG.warning("AUTH_ENABLED=false: the API accepts requests WITHOUT an API key");
    }
    ProgrammaticService programmatic =
        new ProgrammaticService(
            executions,
            redis != null ? new RedisProgrammaticStore(redis) : new LocalProgrammaticStore(),
            http,
            config.sessions().ptcContinuationTimeout(),
            config.limits().maxExecutionTime());
    Usage usage =
        new Usage(
            usageStore, clock, config.operations().usageRetention(), metrics::usageRecordLost);
    var endpoints =
        dev.kubecoderun.api.Endpoints.all(
            executions,
            programmatic,
            languages,
            files,
            sessions,
            states,
            new StateWrites(states, sessionLocks, config.sessions().queueTimeout()),
            clock,
            config,
            VERSION,
            // Not ready from the moment the stop closes the slots: runs are refused from then on.
            () -> slots.closed() ? "the service is shutting down" : pool.notReady(),
            checks,
            new dev.kubecoderun.api.Endpoints.Operations(
                metrics,
                usage,
                new KeyAdmin(keyStore, config.auth().apiKeys(), clock, usage),
                pool,
                slots,
                throttle,
                clients));
    pool.start();
    long largestBody =
        Math.max(
            Math.max(config.limits().maxJsonBodyBytes(), config.state().maxBytes()),
            config.limits().maxFileSizeBytes() * config.limits().maxFilesPerRequest() + (1 << 20));
    server =
        ApiServer.start(
            config.server(),
            largestBody,
            memory,
            new ApiServer.Endpoints(endpoints, auth, metrics));
    if (!server.isRunning()) {
      // Bound a moment ago by requireFreePort, taken since: stop what started, say why.
      pool.close();
      housekeeping.close();
      usageStore.close();
      if (redis != null) {
        redis.close();
      }
      metrics.close();
      throw new IllegalStateException(
          "API_HOST="
              + config.server().host()
              + " API_PORT="
              + config.server().port()
              + ": the HTTP server could not listen there");
    }
    LOG.info(
        "KubeCodeRun " + VERSION + " listening on " + config.server().host() + ":" + server.port());
    if (kubernetes != null) {
      // The probe pod tries to reach this API: only now is there something to reach.
      kubernetes.startIsolationCheck();
    }
  }

  /** API keys and/or LibreChat's JWTs (CODEAPI_AUTH_PROVIDER), then per-principal rate limits. */
  private static Authenticator authenticator(Config.Auth a, ApiKeyStore keyStore, Clock clock) {
    ManagedApiKeys keys =
        new ManagedApiKeys(new EnvApiKeys(a.apiKeys()), keyStore, a.rateLimitEnabled(), clock);
    JwtVerifier jwts = null;
    if (a.jwt() != null) {
      JwtKeys jwtKeys;
      try {
        jwtKeys = JwtKeys.load(a.jwt().keys());
      } catch (IllegalArgumentException e) {
        throw new ConfigException(e.getMessage());
      }
      Config.Jwt j = a.jwt();
      jwts =
          new JwtVerifier(
              new JwtVerifier.Settings(
                  j.issuer(),
                  j.audience(),
                  j.allowedAlgorithms(),
                  j.clockSkew(),
                  j.maxLifetime(),
                  j.singleTenantId(),
                  j.strictTenant()),
              jwtKeys,
              clock);
    }
    if (a.provider() == Authenticator.Mode.LIBRECHAT_JWT && !a.apiKeys().isEmpty()) {
      LOG.warning("CODEAPI_AUTH_PROVIDER=librechat-jwt: API_KEY/API_KEYS are set but not accepted");
    }
    LOG.info("authentication: CODEAPI_AUTH_PROVIDER=" + a.provider().setting());
    return new Authenticator(
        a.provider(),
        keys,
        jwts,
        new RateLimiter(keyStore, clock),
        a.rateLimitEnabled() ? a.jwtRateLimits() : java.util.Map.of());
  }

  /**
   * The languages with their libraries. The local backend can tell the versions its sandboxes run
   * (found on first use); the images of the Kubernetes one run elsewhere, so the lock files'
   * versions stand for theirs.
   */
  private static LanguageCatalog languageCatalog(Config config) {
    Libraries libraries = Libraries.bundled();
    if (config.sandbox().backend().equals("kubernetes")) {
      return new LanguageCatalog(libraries, () -> LanguageCatalog.Installed.UNKNOWN);
    }
    return new LanguageCatalog(
        libraries,
        () ->
            InstalledVersions.detect(
                Toolchains.discover(
                    config.sandbox().path(),
                    config.sandbox().toolOverrides(),
                    config.sandbox().toolsDir()),
                libraries));
  }

  /** DATA_DIR holds the sandboxes' folders and, without Redis and S3, every store. */
  private static void requireWritable(Path dir) {
    try {
      Files.createDirectories(dir);
      Files.deleteIfExists(Files.createTempFile(dir, ".write-check", ""));
    } catch (IOException e) {
      throw new ConfigException("DATA_DIR=" + dir + " is not a writable directory: " + e);
    }
  }

  /**
   * Helidon logs a port it cannot bind and carries on without a listener: check first, so the start
   * fails with a line naming the setting.
   */
  private static void requireFreePort(String host, int port) {
    if (port == 0) {
      return;
    }
    try (ServerSocket s = new ServerSocket()) {
      s.setReuseAddress(true);
      s.bind(new InetSocketAddress(host, port));
    } catch (IOException e) {
      throw new ConfigException(
          "API_HOST=" + host + " API_PORT=" + port + ": cannot listen there: " + e.getMessage());
    }
  }

  /** The backend SANDBOX_BACKEND names; a backend with its own health check adds it. */
  private static SandboxFactory sandboxFactory(
      Config config, WebClient http, List<HealthCheck> checks) {
    RunnerSettings runner =
        new RunnerSettings(
            config.sandbox().startTimeout(),
            config.limits().maxExecutionTime().toMillis(),
            config.limits().maxOutputBytes(),
            config.sandbox().maxSandboxFileBytes(),
            config.sandbox().pythonPreload());
    if (config.sandbox().backend().equals("kubernetes")) {
      KubernetesSandboxFactory k8s =
          new KubernetesSandboxFactory(config.kubernetes(), runner, http, config.storeAddresses());
      checks.add(k8s.healthCheck());
      checks.add(k8s.isolationCheck());
      return k8s;
    }
    return new LocalSandboxFactory(
        new LocalSandboxFactory.Settings(
            config.sandbox().runnerBinary(),
            config.dataDir().resolve("sandboxes"),
            config.sandbox().memoryLimitBytes(),
            config.sandbox().jail()),
        runner,
        Toolchains.discover(
            config.sandbox().path(), config.sandbox().toolOverrides(), config.sandbox().toolsDir()),
        http);
  }

  private static String readVersion() {
    Properties p = new Properties();
    try (InputStream in = Application.class.getResourceAsStream("version.properties")) {
      p.load(in);
    } catch (IOException | NullPointerException e) {
      throw new IllegalStateException("version.properties is missing from the build", e);
    }
    return p.getProperty("version");
  }

  public static Application start(Config config) {
    return new Application(config, null, Clock.systemUTC());
  }

  /** The API with another sandbox backend (bench/jmh measures the API's own work with a stub). */
  public static Application start(Config config, SandboxFactory factory) {
    return new Application(config, factory, Clock.systemUTC());
  }

  /**
   * The API on {@code clock} (a test's, to expire sessions at a moment of its choosing), with
   * {@code factory} as its sandbox backend, or the one {@code config} names when null.
   */
  public static Application start(Config config, SandboxFactory factory, Clock clock) {
    return new Application(config, factory, clock);
  }

  public int port() {
    return server.port();
  }

  public SandboxPool pool() {
    return pool;
  }

  /**
   * Graceful stop: refuse new work, let running executions finish, then destroy sandboxes. /ready
   * answers 503 at once, so a load balancer stops sending runs here; a run that comes all the same
   * (Kubernetes removes a stopping pod's endpoints a moment after the SIGTERM: the chart's preStop
   * delay covers most of that moment) or that waits for a slot gets 503 with Retry-After at once,
   * never a start the stop would kill. Requests other than runs are still served until the server
   * stops: a programmatic run in progress needs its client's tool results.
   */
  @Override
  public void close() {
    // What fails from now on because the backend goes too (Ctrl-C signals the jail with the API's
    // process group) is expected: the pool and its backend say so quietly.
    pool.stopping();
    try {
      // Closes the slots (/ready: 503; runs refused, those waiting for a slot too), then waits.
      if (!slots.drain(config.server().shutdownGrace())) {
        LOG.warning("executions still running after the shutdown grace period");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    server.stop();
    housekeeping.close();
    if (sessionSandboxes != null) {
      sessionSandboxes.close();
    }
    pool.close();
    usageStore.close();
    if (redis != null) {
      redis.close();
    }
    metrics.close();
    LOG.info("stopped");
  }
}
