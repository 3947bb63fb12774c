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
   * A use of a key is being written to its file as the key is revoked: the revocation waits for
   * that write, so no file is left to bring the key back at the next start. The use's write is held
   * at the store's seam until the revocation has either finished (the race) or is waiting.
   */
  @Test
  void aUseWrittenAsTheKeyIsRevokedLeavesNoFileToBringItBack(@TempDir Path dataDir)
      throws Exception {
    LocalApiKeyStore store = new LocalApiKeyStore(Clock.systemUTC(), dataDir);
    String hash = ManagedApiKeys.sha256Hex("sk-revoked-while-used");
    store.save(new ApiKeyRecord(hash, "sk-revoked", "used", now, true, Map.of(), 0, null));
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
    Thread use = Thread.ofPlatform().start(() -> store.recordUsage(hash, now.plusSeconds(1)));
    writing.await();
    Thread revoke = Thread.ofPlatform().start(() -> store.delete(hash));
    Eventually.await(
        "the revocation to wait for the use's write, or to be done",
        Duration.ofSeconds(10),
        () ->
            revoke.getState() == Thread.State.BLOCKED
                || revoke.getState() == Thread.State.TERMINATED);
    write.countDown();
    use.join();
    revoke.join();
    assertTrue(store.find(hash).isEmpty());
    assertTrue(
        new LocalApiKeyStore(Clock.systemUTC(), dataDir).find(hash).isEmpty(),
        "still revoked after a restart");
  }
}
