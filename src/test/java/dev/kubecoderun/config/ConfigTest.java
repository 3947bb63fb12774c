package dev.kubecoderun.config;

import static dev.kubecoderun.config.TestEnv.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.Authenticator;
import dev.kubecoderun.auth.RateWindow;
import dev.kubecoderun.language.Language;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;

class ConfigTest {
  @Test
  void defaultsAreUsableWithJustAKey() {
    Config c = config();
    assertEquals(8000, c.server().port());
    assertEquals(30, c.limits().maxExecutionTime().toSeconds());
    assertEquals(3, c.sandbox().poolSize(Language.PY));
    assertEquals(0, c.sandbox().poolSize(Language.GO));
    assertTrue(c.auth().enabled());
    assertEquals(500, c.limits().maxExecFiles());
  }

  @Test
  void aFileAsLargeAsLibreChatLetsAUserUploadIsAcceptedByDefault() {
    Config c = config();
    assertEquals(150L * 1024 * 1024, c.limits().maxFileSizeBytes(), "LibreChat's 150 MiB");
    assertTrue(c.sandbox().maxSandboxFileBytes() >= c.limits().maxFileSizeBytes());
    assertTrue(c.sandbox().jail().diskBytes() >= c.limits().maxFileSizeBytes());
  }

  @Test
  void readsPoolSizesPerLanguage() {
    Config c = config("POD_POOL_GO", "2", "POD_POOL_PY", "0");
    assertEquals(2, c.sandbox().poolSize(Language.GO));
    assertEquals(0, c.sandbox().poolSize(Language.PY));
  }

  @Test
  void refusesToStartWithoutAKeyUnlessAuthIsExplicitlyOff() {
    ConfigException e = assertThrows(ConfigException.class, () -> Config.from(Map.of()));
    assertTrue(e.getMessage().contains("API_KEY"));
    assertFalse(Config.from(Map.of("AUTH_ENABLED", "false")).auth().enabled());
  }

  @Test
  void theAuthProviderFollowsWhatIsConfiguredUnlessNamed() {
    Config keysOnly = config();
    assertEquals(Authenticator.Mode.LEGACY_API_KEY, keysOnly.auth().provider());
    assertNull(keysOnly.auth().jwt());
    Config withJwt = Config.from(Map.of("CODEAPI_JWT_PUBLIC_KEY", "pem"));
    assertEquals(Authenticator.Mode.BOTH, withJwt.auth().provider(), "no API key needed then");
    assertEquals("librechat", withJwt.auth().jwt().issuer());
    assertEquals("codeapi", withJwt.auth().jwt().audience());
    assertEquals(Set.of("EdDSA", "RS256"), withJwt.auth().jwt().allowedAlgorithms());
    assertEquals(30, withJwt.auth().jwt().clockSkew().toSeconds());
    assertEquals(300, withJwt.auth().jwt().maxLifetime().toSeconds());
    assertEquals("legacy", withJwt.auth().jwt().singleTenantId());
    Config named =
        Config.from(
            Map.of(
                "CODEAPI_AUTH_PROVIDER",
                "librechat-jwt",
                "CODEAPI_JWT_JWKS_JSON",
                "{}",
                "CODEAPI_JWT_KEY_ID",
                "k1",
                "CODEAPI_JWT_ALLOWED_ALGS",
                "EdDSA",
                "JWT_RATE_LIMITS",
                "per_minute=60, hourly=1000"));
    assertEquals(Authenticator.Mode.LIBRECHAT_JWT, named.auth().provider());
    assertEquals("k1", named.auth().jwt().keys().kid());
    assertEquals(Set.of("EdDSA"), named.auth().jwt().allowedAlgorithms());
    assertEquals(
        Map.of(RateWindow.MINUTE, 60L, RateWindow.HOUR, 1000L), named.auth().jwtRateLimits());
  }

  @Test
  void badAuthSettingsNameTheVariable() {
    assertTrue(
        assertThrows(ConfigException.class, () -> config("CODEAPI_AUTH_PROVIDER", "none"))
            .getMessage()
            .contains("AUTH_ENABLED=false"));
    assertTrue(
        assertThrows(
                ConfigException.class,
                () -> Config.from(Map.of("CODEAPI_AUTH_PROVIDER", "librechat-jwt")))
            .getMessage()
            .contains("CODEAPI_JWT_PUBLIC_KEY"));
    assertTrue(
        assertThrows(
                ConfigException.class,
                () ->
                    Config.from(
                        Map.of(
                            "CODEAPI_JWT_PUBLIC_KEY", "pem", "CODEAPI_JWT_ALLOWED_ALGS", "HS256")))
            .getMessage()
            .contains("HS256"));
    assertTrue(
        assertThrows(ConfigException.class, () -> config("JWT_RATE_LIMITS", "per_week=5"))
            .getMessage()
            .contains("JWT_RATE_LIMITS"));
    assertThrows(
        ConfigException.class,
        () ->
            Config.from(
                Map.of("CODEAPI_JWT_PUBLIC_KEY", "pem", "CODEAPI_JWT_MAX_TTL_SECONDS", "3600")));
  }

  @Test
  void theSandboxFileLimitMustFitTheInputs() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () -> config("MAX_FILE_SIZE_MB", "200", "SANDBOX_MAX_FILE_SIZE_MB", "100"));
    assertTrue(e.getMessage().contains("SANDBOX_MAX_FILE_SIZE_MB"));
  }

  @Test
  void theSandboxMemoryLimitIsOneGibibyteNoneOrRoomyEnoughForAWarmPython() {
    assertEquals(1024L << 20, config().sandbox().memoryLimitBytes());
    assertEquals(0, config("SANDBOX_MEMORY_LIMIT_MB", "0").sandbox().memoryLimitBytes());
    ConfigException e =
        assertThrows(ConfigException.class, () -> config("SANDBOX_MEMORY_LIMIT_MB", "100"));
    assertTrue(e.getMessage().contains("SANDBOX_MEMORY_LIMIT_MB=100"), e.getMessage());
  }

  @Test
  void theLocalJailHasDefaultsAndChecksItsSettings() {
    Config.Jail jail = config().sandbox().jail();
    assertEquals(
        new Config.Jail(1024L << 20, 16384, 64L << 20, 1.0, 4.0, 1_500_000, 4096, true), jail);
    jail =
        config(
                "SANDBOX_DISK_LIMIT_MB",
                "256",
                "SANDBOX_DISK_INODES",
                "1000",
                "SANDBOX_SHM_SIZE_MB",
                "8",
                "SANDBOX_CPU_LIMIT",
                "0.5",
                "SANDBOX_CPU_WEIGHT",
                "1",
                "SANDBOX_UID_BASE",
                "300000",
                "SANDBOX_UID_COUNT",
                "64",
                "SANDBOX_CGROUP_FAVORDYNMODS",
                "false")
            .sandbox()
            .jail();
    assertEquals(new Config.Jail(256L << 20, 1000, 8L << 20, 0.5, 1.0, 300_000, 64, false), jail);
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () -> config("MAX_FILE_SIZE_MB", "200", "SANDBOX_DISK_LIMIT_MB", "100"));
    assertTrue(e.getMessage().contains("SANDBOX_DISK_LIMIT_MB=100"), e.getMessage());
    e = assertThrows(ConfigException.class, () -> config("SANDBOX_CPU_LIMIT", "lots"));
    assertTrue(e.getMessage().contains("SANDBOX_CPU_LIMIT"), e.getMessage());
  }

  @Test
  void theSandboxesWeighFourTimesTheDefaultCpuWeightUnlessToldFromAHundredthToAHundred() {
    assertEquals(4.0, config().sandbox().jail().cpuWeight());
    assertEquals(0.01, config("SANDBOX_CPU_WEIGHT", "0.01").sandbox().jail().cpuWeight());
    assertEquals(1.0, config("SANDBOX_CPU_WEIGHT", "1").sandbox().jail().cpuWeight());
    assertEquals(2.5, config("SANDBOX_CPU_WEIGHT", " 2.5 ").sandbox().jail().cpuWeight());
    assertEquals(100.0, config("SANDBOX_CPU_WEIGHT", "100").sandbox().jail().cpuWeight());
    for (String bad : List.of("0", "0.009", "-1", "100.5", "NaN", "Infinity")) {
      ConfigException e =
          assertThrows(ConfigException.class, () -> config("SANDBOX_CPU_WEIGHT", bad), bad);
      assertEquals(
          "SANDBOX_CPU_WEIGHT=" + bad + " is out of range [0.01, 100.0]", e.getMessage(), bad);
    }
    ConfigException e =
        assertThrows(ConfigException.class, () -> config("SANDBOX_CPU_WEIGHT", "heavy"));
    assertEquals("SANDBOX_CPU_WEIGHT=heavy is not a number", e.getMessage());
  }

  @Test
  void badValuesNameTheVariable() {
    assertTrue(
        assertThrows(ConfigException.class, () -> config("API_PORT", "x"))
            .getMessage()
            .contains("API_PORT"));
    assertTrue(
        assertThrows(ConfigException.class, () -> Config.from(Map.of("API_KEY", "short")))
            .getMessage()
            .contains("16"));
    assertTrue(
        assertThrows(ConfigException.class, () -> config("MAX_EXECUTION_TIME", "0"))
            .getMessage()
            .contains("MAX_EXECUTION_TIME"));
  }

  @Test
  void trustedProxiesAreNetworksOfEitherFamilyAndNoneByDefault() {
    assertEquals(List.of(), config().server().trustedProxies());
    assertEquals(
        "[10.244.0.0/16, fd00::/8, 192.0.2.7]",
        config("TRUSTED_PROXIES", " 10.244.0.0/16, fd00::/8,192.0.2.7")
            .server()
            .trustedProxies()
            .toString());
    ConfigException e =
        assertThrows(
            ConfigException.class, () -> config("TRUSTED_PROXIES", "10.0.0.0/8,10.1.0.0/8"));
    assertEquals(
        "TRUSTED_PROXIES: 10.1.0.0/8 has bits set beyond its prefix; the network is 10.0.0.0/8",
        e.getMessage());
    assertTrue(
        assertThrows(ConfigException.class, () -> config("TRUSTED_PROXIES", "ingress-nginx"))
            .getMessage()
            .startsWith("TRUSTED_PROXIES: ingress-nginx is not"));
  }

  @Test
  void logLevelsTakeThePythonVersionsNames() {
    for (var e :
        Map.of(
                "DEBUG", Level.FINE,
                "info", Level.INFO,
                "WARNING", Level.WARNING,
                "WARN", Level.WARNING,
                "ERROR", Level.SEVERE,
                "CRITICAL", Level.SEVERE,
                "FINER", Level.FINER)
            .entrySet()) {
      assertEquals(e.getValue(), config("LOG_LEVEL", e.getKey()).logging().level(), e.getKey());
    }
    ConfigException bad = assertThrows(ConfigException.class, () -> config("LOG_LEVEL", "LOUD"));
    assertTrue(bad.getMessage().startsWith("LOG_LEVEL=LOUD"), bad.getMessage());
  }

  @Test
  void withoutRedisAndS3SettingsTheEmbeddedStoresAreUsed() {
    Config c = config();
    assertFalse(c.redis().enabled());
    assertFalse(c.s3().enabled());
    assertEquals(java.time.Duration.ZERO, c.sessions().ttl());
    assertTrue(c.sessions().orphanSweep());
  }

  @Test
  void aLibreChatUserMayHoldHalfTheSlotsByDefault() {
    assertEquals(4, config().limits().jwtMaxConcurrentExecutions());
    assertEquals(
        5, config("MAX_CONCURRENT_EXECUTIONS", "11").limits().jwtMaxConcurrentExecutions());
    assertEquals(1, config("MAX_CONCURRENT_EXECUTIONS", "1").limits().jwtMaxConcurrentExecutions());
    assertEquals(0, config().limits().apiKeyMaxConcurrentExecutions());
  }

  @Test
  void aRunWaitsForItsSessionTwiceTheLongestRunByDefault() {
    assertEquals(java.time.Duration.ofSeconds(60), config().sessions().queueTimeout());
    assertEquals(
        java.time.Duration.ofSeconds(240),
        config("MAX_EXECUTION_TIME", "120").sessions().queueTimeout());
    assertEquals(
        java.time.Duration.ZERO,
        config("SESSION_QUEUE_TIMEOUT_SECONDS", "0").sessions().queueTimeout());
  }

  @Test
  void redisUrlGivesHostPortDatabaseCredentialsAndTls() {
    Config.Redis r =
        config(
                "REDIS_URL",
                "rediss://app:p%40ss+word@redis.example:6380/3",
                "REDIS_KEY_PREFIX",
                "kcr:")
            .redis();
    assertTrue(r.enabled());
    assertEquals("redis.example", r.host());
    assertEquals(6380, r.port());
    assertEquals(3, r.database());
    assertEquals("app", r.username());
    assertEquals("p@ss+word", r.password());
    assertTrue(r.tls().enabled());
    assertEquals("kcr:", r.keyPrefix());
  }

  @Test
  void sentinelAndClusterModesNeedTheirNodes() {
    assertTrue(
        assertThrows(ConfigException.class, () -> config("REDIS_MODE", "sentinel"))
            .getMessage()
            .contains("REDIS_SENTINEL_NODES"));
    Config.Redis r =
        config("REDIS_MODE", "cluster", "REDIS_CLUSTER_NODES", "a:7000, b:7001").redis();
    assertEquals(Config.RedisMode.CLUSTER, r.mode());
    assertEquals(java.util.List.of("a:7000", "b:7001"), r.clusterNodes());
  }

  @Test
  void s3NeedsKeysUnlessIamAndGetsASchemeFromMinioSecure() {
    assertTrue(
        assertThrows(ConfigException.class, () -> config("MINIO_ENDPOINT", "minio:9000"))
            .getMessage()
            .contains("MINIO_ACCESS_KEY"));
    Config.S3 s3 =
        config("MINIO_ENDPOINT", "s3.example:443", "MINIO_SECURE", "true", "MINIO_USE_IAM", "true")
            .s3();
    assertEquals("https://s3.example:443", s3.endpoint());
    assertTrue(s3.useIam());
    assertEquals("kubecoderun-files", s3.bucket());
  }

  /** What the Kubernetes backend's start-up check has a sandbox try besides its own targets. */
  @Test
  void theStoresAddressesAreEveryRedisServerAndTheS3Endpoint() {
    assertEquals(
        java.util.List.of("redis.kcr.svc:6380", "minio.kcr.svc:9000"),
        config(
                "REDIS_URL", "redis://redis.kcr.svc:6380/1",
                "MINIO_ENDPOINT", "minio.kcr.svc:9000",
                "MINIO_USE_IAM", "true")
            .storeAddresses());
    assertEquals(
        java.util.List.of("a:7000", "b:7001", "s3.example:443"),
        config(
                "REDIS_MODE", "cluster",
                "REDIS_CLUSTER_NODES", "a:7000,b:7001",
                "MINIO_ENDPOINT", "https://s3.example",
                "MINIO_USE_IAM", "true")
            .storeAddresses());
    assertEquals(java.util.List.of(), config().storeAddresses());
  }

  @Test
  void theMasterKeyIsLongAndNoApiKey() {
    Map<String, String> base = Map.of("API_KEY", "an-api-key-0123456789");
    assertNull(Config.from(base).operations().masterKey());
    assertFalse(Config.from(base).operations().adminEnabled());
    java.util.HashMap<String, String> env = new java.util.HashMap<>(base);
    env.put("MASTER_API_KEY", "too-short");
    assertThrows(ConfigException.class, () -> Config.from(env));
    env.put("MASTER_API_KEY", "an-api-key-0123456789");
    assertThrows(ConfigException.class, () -> Config.from(env));
    env.put("MASTER_API_KEY", "m".repeat(32));
    env.put("USAGE_RETENTION_DAYS", "7");
    env.put("METRICS_PUBLIC", "true");
    Config.Operations ops = Config.from(env).operations();
    assertTrue(ops.adminEnabled());
    assertTrue(ops.metricsPublic());
    assertEquals(java.time.Duration.ofDays(7), ops.usageRetention());
    assertTrue(ops.docsEnabled());
    assertTrue(ops.dashboardEnabled());
  }

  /** The master key goes in a header: a browser cannot send other characters there at all. */
  @Test
  void aMasterKeyOutsidePrintableAsciiIsRefusedAtStart() {
    java.util.HashMap<String, String> env = new java.util.HashMap<>();
    env.put("API_KEY", "an-api-key-0123456789");
    for (String key :
        List.of(
            "clé-maître-" + "m".repeat(32),
            "m".repeat(32) + "€",
            "m".repeat(16) + "\t" + "m".repeat(16))) {
      env.put("MASTER_API_KEY", key);
      ConfigException e = assertThrows(ConfigException.class, () -> Config.from(env), key);
      assertTrue(e.getMessage().contains("MASTER_API_KEY must be printable ASCII"), e.getMessage());
    }
    env.put("MASTER_API_KEY", "m".repeat(16) + " !~" + "m".repeat(16));
    assertEquals(
        "m".repeat(16) + " !~" + "m".repeat(16), Config.from(env).operations().masterKey());
  }

  @Test
  void theMetricsTokenIsLongAndNoOtherKey() {
    java.util.HashMap<String, String> env = new java.util.HashMap<>();
    env.put("API_KEY", "an-api-key-0123456789-0123456789-0123");
    env.put("MASTER_API_KEY", "m".repeat(32));
    assertNull(Config.from(env).operations().metricsToken());
    env.put("METRICS_TOKEN", "t".repeat(31));
    assertThrows(ConfigException.class, () -> Config.from(env));
    env.put("METRICS_TOKEN", "m".repeat(32));
    assertThrows(ConfigException.class, () -> Config.from(env), "the master key");
    env.put("METRICS_TOKEN", "an-api-key-0123456789-0123456789-0123");
    assertThrows(ConfigException.class, () -> Config.from(env), "an API key");
    env.put("METRICS_TOKEN", "t".repeat(32));
    assertEquals("t".repeat(32), Config.from(env).operations().metricsToken());
    env.remove("MASTER_API_KEY");
    assertEquals("t".repeat(32), Config.from(env).operations().metricsToken(), "no master key");
  }
}
