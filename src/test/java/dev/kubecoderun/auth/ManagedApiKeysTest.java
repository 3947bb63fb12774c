package dev.kubecoderun.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ManagedApiKeysTest {
  private static final String ENV_KEY = "env-key-0123456789abcdef";
  private static final String MANAGED = "sk-managed-0123456789abcdef";

  private final LocalApiKeyStore store = new LocalApiKeyStore(Clock.systemUTC());

  private ManagedApiKeys keys(ApiKeyStore s, boolean rateLimits) {
    return new ManagedApiKeys(new EnvApiKeys(List.of(ENV_KEY)), s, rateLimits, Clock.systemUTC());
  }

  private void manage(String key, boolean enabled, Map<RateWindow, Long> limits) {
    store.save(
        new ApiKeyRecord(
            ManagedApiKeys.sha256Hex(key),
            "sk-managed",
            "t",
            Instant.now(),
            enabled,
            limits,
            0,
            null));
  }

  @Test
  void envKeysAndEnabledManagedKeysAreAcceptedOthersRejected() {
    manage(MANAGED, true, Map.of());
    manage("sk-disabled-0123456789", false, Map.of());
    ManagedApiKeys keys = keys(store, true);
    assertInstanceOf(ApiKeyValidator.Accepted.class, keys.check(ENV_KEY));
    assertInstanceOf(ApiKeyValidator.Accepted.class, keys.check(MANAGED));
    assertEquals(
        new ApiKeyValidator.Rejected("API key is disabled"), keys.check("sk-disabled-0123456789"));
    assertEquals(new ApiKeyValidator.Rejected("Invalid API key"), keys.check("sk-nobody"));
    assertEquals(1, store.find(ManagedApiKeys.sha256Hex(MANAGED)).orElseThrow().usageCount());
  }

  @Test
  void aKeyDisabledOrDeletedIsRefusedByTheVeryNextRequest() {
    for (boolean rateLimits : new boolean[] {true, false}) {
      manage(MANAGED, true, Map.of());
      ManagedApiKeys keys = keys(store, rateLimits);
      assertInstanceOf(ApiKeyValidator.Accepted.class, keys.check(MANAGED));
      manage(MANAGED, false, Map.of());
      assertEquals(new ApiKeyValidator.Rejected("API key is disabled"), keys.check(MANAGED));
      store.delete(ManagedApiKeys.sha256Hex(MANAGED));
      assertEquals(new ApiKeyValidator.Rejected("Invalid API key"), keys.check(MANAGED));
    }
  }

  @Test
  void aManagedKeyIsLimitedPerWindowAndTheRefusalIsNotCounted() {
    manage(MANAGED, true, Map.of(RateWindow.MINUTE, 3L));
    ManagedApiKeys keys = keys(store, true);
    // A fixed clock: the test never straddles two minute windows.
    RateLimiter limiter =
        new RateLimiter(store, Clock.fixed(Instant.parse("2030-01-01T10:00:30Z"), ZoneOffset.UTC));
    Principal principal = Principal.apiKey(MANAGED);
    Map<RateWindow, Long> limits = Map.of();
    for (int i = 0; i < 3; i++) {
      limits = assertInstanceOf(ApiKeyValidator.Accepted.class, keys.check(MANAGED)).limits();
      RateLimiter.Within within =
          assertInstanceOf(RateLimiter.Within.class, limiter.consume(principal, limits));
      assertEquals(2 - i, within.status().remaining());
      assertEquals(3, within.status().limit());
      assertEquals(Instant.parse("2030-01-01T10:01:00Z"), within.status().resetAt());
    }
    RateLimiter.Limited limited =
        assertInstanceOf(RateLimiter.Limited.class, limiter.consume(principal, limits));
    assertEquals(RateWindow.MINUTE, limited.window());
    assertEquals(3, limited.limit());
    assertEquals(3, limited.used());
    assertInstanceOf(RateLimiter.Limited.class, limiter.consume(principal, limits));
    assertEquals(
        Map.of(),
        assertInstanceOf(ApiKeyValidator.Accepted.class, keys(store, false).check(MANAGED))
            .limits(),
        "limits switched off");
    assertInstanceOf(
        RateLimiter.Within.class,
        limiter.consume(Principal.apiKey(ENV_KEY), limits),
        "counted per principal");
  }

  @Test
  void embeddedManagedKeysSurviveARestartAndAnUnreadableFileIsSkipped(@TempDir Path dataDir)
      throws IOException {
    LocalApiKeyStore first = new LocalApiKeyStore(Clock.systemUTC(), dataDir);
    String hash = ManagedApiKeys.sha256Hex(MANAGED);
    first.save(
        new ApiKeyRecord(
            hash, "sk-managed", "kept", Instant.now(), true, Map.of(RateWindow.HOUR, 9L), 0, null));
    assertInstanceOf(ApiKeyValidator.Accepted.class, keys(first, true).check(MANAGED));
    Path dir = dataDir.resolve("meta/api-keys");
    Files.writeString(dir.resolve("f".repeat(64) + ".json"), "{not json");
    Files.writeString(dir.resolve("notes.txt"), "not a record");

    LocalApiKeyStore second = new LocalApiKeyStore(Clock.systemUTC(), dataDir);
    assertEquals(List.of(hash), second.list().stream().map(ApiKeyRecord::keyHash).toList());
    ApiKeyRecord kept = second.find(hash).orElseThrow();
    assertEquals("kept", kept.name());
    assertEquals(Map.of(RateWindow.HOUR, 9L), kept.limits());
    assertEquals(1, kept.usageCount(), "the usage written through");
    assertEquals(
        Map.of(RateWindow.HOUR, 9L),
        assertInstanceOf(ApiKeyValidator.Accepted.class, keys(second, true).check(MANAGED))
            .limits());
    second.delete(hash);
    assertEquals(List.of(), new LocalApiKeyStore(Clock.systemUTC(), dataDir).list(), "deleted");
  }

  @Test
  void whenTheStoreIsDownEnvKeysStillWorkAndManagedKeysGet503() {
    ManagedApiKeys keys = keys(new DownApiKeyStore(), true);
    assertInstanceOf(ApiKeyValidator.Accepted.class, keys.check(ENV_KEY));
    assertInstanceOf(ApiKeyValidator.Unavailable.class, keys.check(MANAGED));
  }

  /**
   * The key's record is read, its use count cannot be written (a lost reply: that write is sent
   * once, never again): the key is good, the request goes on; only the count is lost.
   */
  @Test
  void aUseCountThatCannotBeWrittenDoesNotRefuseAGoodKey() {
    manage(MANAGED, true, Map.of());
    ApiKeyStore countLost =
        new ApiKeyStore() {
          @Override
          public java.util.Optional<ApiKeyRecord> find(String keyHash) {
            return store.find(keyHash);
          }

          @Override
          public void recordUsage(String keyHash, Instant now) {
            throw new java.io.UncheckedIOException(new IOException("Redis unavailable"));
          }

          @Override
          public void save(ApiKeyRecord record) {
            store.save(record);
          }

          @Override
          public boolean update(
              String keyHash, String name, Boolean enabled, Map<RateWindow, Long> limits) {
            return store.update(keyHash, name, enabled, limits);
          }

          @Override
          public List<ApiKeyRecord> list() {
            return store.list();
          }

          @Override
          public boolean delete(String keyHash) {
            return store.delete(keyHash);
          }

          @Override
          public void invalidate(String shortHash) {
            store.invalidate(shortHash);
          }

          @Override
          public long increment(String shortHash, String counter, java.time.Duration ttl) {
            return store.increment(shortHash, counter, ttl);
          }

          @Override
          public void decrement(String shortHash, String counter) {
            store.decrement(shortHash, counter);
          }
        };
    assertInstanceOf(ApiKeyValidator.Accepted.class, keys(countLost, true).check(MANAGED));
  }

  @Test
  void expiredRateCountersAreForgotten() {
    Instant[] now = {Instant.parse("2030-01-01T10:00:00Z")};
    Clock ticking =
        new Clock() {
          @Override
          public Instant instant() {
            return now[0];
          }

          @Override
          public ZoneOffset getZone() {
            return ZoneOffset.UTC;
          }

          @Override
          public Clock withZone(java.time.ZoneId zone) {
            return this;
          }
        };
    LocalApiKeyStore counting = new LocalApiKeyStore(ticking);
    // A key limited per second for three hours: one counter per window, each named by its second.
    for (int second = 0; second < 3 * 3600; second++) {
      counting.increment("abc", "second:" + second, Duration.ofSeconds(1));
      now[0] = now[0].plusSeconds(1);
    }
    assertTrue(counting.counters() <= 1024, counting.counters() + " counters held");
  }
}
