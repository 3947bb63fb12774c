package dev.kubecoderun.auth;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.Eventually;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The embedded key store's files under races with a revocation. */
class LocalApiKeyStoreTest {
  private final Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);

  /**
   * A use rewrites only the key's usage file, not flushed; the record itself is written (flushed)
   * by admin changes only. A power cut that empties the usage file costs a count, never the key.
   */
  @Test
  void aUseLeavesTheKeysRecordAsItWasAndAnEmptiedUsageFileCostsOnlyTheCount(@TempDir Path dataDir)
      throws Exception {
    LocalApiKeyStore store = new LocalApiKeyStore(Clock.systemUTC(), dataDir);
    String hash = ManagedApiKeys.sha256Hex("sk-used-then-power-cut");
    store.save(new ApiKeyRecord(hash, "sk-used", "used", now, true, Map.of(), 0, null));
    Path record = dataDir.resolve("meta/api-keys/" + hash + ".json");
    byte[] written = java.nio.file.Files.readAllBytes(record);

    store.recordUsage(hash, now.plusSeconds(1));
    store.recordUsage(hash, now.plusSeconds(2));
    org.junit.jupiter.api.Assertions.assertArrayEquals(
        written, java.nio.file.Files.readAllBytes(record), "the record is not rewritten by a use");
    ApiKeyRecord reloaded =
        new LocalApiKeyStore(Clock.systemUTC(), dataDir).find(hash).orElseThrow();
    org.junit.jupiter.api.Assertions.assertEquals(2, reloaded.usageCount());
    org.junit.jupiter.api.Assertions.assertEquals(now.plusSeconds(2), reloaded.lastUsedAt());

    java.nio.file.Files.write(dataDir.resolve("meta/api-key-usage/" + hash + ".json"), new byte[0]);
    ApiKeyRecord afterCut =
        new LocalApiKeyStore(Clock.systemUTC(), dataDir).find(hash).orElseThrow();
    assertTrue(afterCut.enabled());
    org.junit.jupiter.api.Assertions.assertEquals(0, afterCut.usageCount());
  }

  /**
   * An admin change of a key is writing the key's record file as the key is revoked: the revocation
   * waits for that write, so no file is left to bring the key back at the next start. The change's
   * write is held at the store's seam until the revocation has either finished (the race) or is
   * waiting. (A use writes only the usage file, which a start ignores for a key without a record.)
   */
  @Test
  void aChangeWrittenAsTheKeyIsRevokedLeavesNoFileToBringItBack(@TempDir Path dataDir)
      throws Exception {
    LocalApiKeyStore store = new LocalApiKeyStore(Clock.systemUTC(), dataDir);
    String hash = ManagedApiKeys.sha256Hex("sk-revoked-while-changed");
    store.save(new ApiKeyRecord(hash, "sk-revoked", "changed", now, true, Map.of(), 0, null));
    CountDownLatch writing = new CountDownLatch(1);
    CountDownLatch write = new CountDownLatch(1);
    store.beforeWrite =
        () -> {
          writing.countDown();
          try {
            write.await();
          } catch (InterruptedException e) {
            throw new IllegalStateException(e);
          }
        };
    Thread change = Thread.ofPlatform().start(() -> store.update(hash, "renamed", null, null));
    writing.await();
    Thread revoke = Thread.ofPlatform().start(() -> store.delete(hash));
    Eventually.await(
        "the revocation to wait for the change's write, or to be done",
        Duration.ofSeconds(10),
        () ->
            revoke.getState() == Thread.State.BLOCKED
                || revoke.getState() == Thread.State.TERMINATED);
    write.countDown();
    change.join();
    revoke.join();
    assertTrue(store.find(hash).isEmpty());
    assertTrue(
        new LocalApiKeyStore(Clock.systemUTC(), dataDir).find(hash).isEmpty(),
        "still revoked after a restart");
  }
}
