package dev.kubecoderun.admin;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.LocalApiKeyStore;
import dev.kubecoderun.auth.ManagedApiKeys;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The env keys' use: read from usage only where the admin API shows it. */
class KeyAdminTest {
  private static final Instant T0 = UsageStoreContract.T0;

  /**
   * The use of an env key is a read of every hour bucket kept (USAGE_RETENTION_DAYS): the keys list
   * and a key shown read it; the names the usage endpoints look up (the failures list, polled every
   * few seconds) do not.
   */
  @Test
  void onlyTheKeysListedOrShownReadTheEnvKeysUse(@TempDir Path dir) {
    Clock clock = Clock.fixed(T0, ZoneOffset.UTC);
    LocalUsageStore local = new LocalUsageStore(dir, Duration.ofDays(30), clock);
    AtomicInteger hourReads = new AtomicInteger();
    UsageStore counted =
        new UsageStore() {
          @Override
          public void record(UsageEvent e) {
            local.record(e);
          }

          @Override
          public NavigableMap<Instant, Map<String, Long>> hours(Instant from, Instant to) {
            hourReads.incrementAndGet();
            return local.hours(from, to);
          }

          @Override
          public NavigableMap<Instant, Map<String, Long>> minutes(Instant from, Instant to) {
            return local.minutes(from, to);
          }

          @Override
          public List<UsageEvent> failures(int limit) {
            return local.failures(limit);
          }
        };
    String secret = "env-key-0123456789abcdef";
    String hash = ManagedApiKeys.sha256Hex(secret);
    String shortHash = ApiKeyRecord.shortHash(hash);
    Usage usage = new Usage(counted, clock, Duration.ofDays(30));
    usage.record(UsageStoreContract.event(T0.minus(Duration.ofHours(5)), shortHash, "py", "ok", 9));
    usage.record(UsageStoreContract.event(T0.minusSeconds(60), shortHash, "js", "ok", 9));
    KeyAdmin keys = new KeyAdmin(new LocalApiKeyStore(clock), List.of(secret), clock, usage);

    KeyAdmin.Key named = keys.list().getFirst();
    assertEquals("Environment Key (#1)", named.record().name());
    assertEquals(0, named.record().usageCount());
    assertEquals("environment", keys.find(hash).orElseThrow().source());
    assertEquals(0, hourReads.get(), "a name looked up reads no usage");

    for (KeyAdmin.Key shown :
        List.of(keys.listWithUse().getFirst(), keys.findWithUse(hash).orElseThrow())) {
      assertEquals(2, shown.record().usageCount());
      assertEquals(Instant.parse("2026-03-02T10:00:00Z"), shown.record().lastUsedAt());
    }
    assertEquals(2, hourReads.get(), "one read each");
    assertNull(keys.find("0".repeat(64)).orElse(null));
  }
}
