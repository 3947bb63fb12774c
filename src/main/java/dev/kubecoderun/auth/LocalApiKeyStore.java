package dev.kubecoderun.auth;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.files.LocalDisk;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Managed keys of the embedded mode: in memory, each record written through to its own JSON file
 * under {@code DATA_DIR/meta/api-keys} so keys made with the admin API survive a restart. The
 * rate-limit counters are short-lived and stay in memory.
 */
public final class LocalApiKeyStore implements ApiKeyStore {
  private record Expiring(long count, Instant expiresAt) {}

  private final Clock clock;
  private final Path dir;
  private final Map<String, ApiKeyRecord> records = new ConcurrentHashMap<>();
  private final Map<String, Expiring> counters = new ConcurrentHashMap<>();
  // A counter's key names its window ("second:...:05"), so an expired one never comes back to be
  // replaced: every SWEEP_EVERY increments, the expired ones go.
  private static final int SWEEP_EVERY = 1024;
  private final AtomicLong increments = new AtomicLong();

  /** Records in memory only (tests). */
  public LocalApiKeyStore(Clock clock) {
    this.clock = clock;
    this.dir = null;
  }

  /** Records kept under {@code dataDir/meta/api-keys}, loaded now. */
  public LocalApiKeyStore(Clock clock, Path dataDir) {
    this.clock = clock;
    this.dir = dataDir.resolve("meta/api-keys");
    load();
  }

  @Override
  public Optional<ApiKeyRecord> find(String keyHash) {
    return Optional.ofNullable(records.get(keyHash));
  }

  @Override
  public void save(ApiKeyRecord record) {
    records.put(record.keyHash(), record);
    persist(record);
  }

  @Override
  public List<ApiKeyRecord> list() {
    return List.copyOf(records.values());
  }

  @Override
  public boolean delete(String keyHash) {
    boolean existed = records.remove(keyHash) != null;
    if (dir != null) {
      try {
        Files.deleteIfExists(file(keyHash));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return existed;
  }

  /** No Python replica shares an embedded store: nothing to forget. */
  @Override
  public void invalidate(String shortHash) {}

  @Override
  public long increment(String shortHash, String counter, Duration ttl) {
    Instant now = clock.instant();
    if (increments.incrementAndGet() % SWEEP_EVERY == 0) {
      counters.values().removeIf(e -> !e.expiresAt().isAfter(now));
    }
    return counters
        .compute(
            shortHash + ":" + counter,
            (k, old) ->
                old == null || !old.expiresAt().isAfter(now)
                    ? new Expiring(1, now.plus(ttl))
                    : new Expiring(old.count() + 1, old.expiresAt()))
        .count();
  }

  /** Counters held, expired ones not yet swept included (for tests). */
  int counters() {
    return counters.size();
  }

  @Override
  public void decrement(String shortHash, String counter) {
    counters.computeIfPresent(
        shortHash + ":" + counter,
        (k, old) -> new Expiring(Math.max(0, old.count() - 1), old.expiresAt()));
  }

  @Override
  public void recordUsage(String keyHash, Instant now) {
    ApiKeyRecord r =
        records.computeIfPresent(keyHash, (k, old) -> old.withUsage(old.usageCount() + 1, now));
    if (r != null) {
      persist(r);
    }
  }

  private void persist(ApiKeyRecord r) {
    if (dir != null) {
      LocalDisk.write(file(r.keyHash()), Json.write(r));
    }
  }

  private Path file(String keyHash) {
    if (!keyHash.matches("[0-9a-f]{64}")) {
      throw new IllegalArgumentException("not a key hash: " + keyHash);
    }
    return dir.resolve(keyHash + ".json");
  }

  private void load() {
    LocalDisk.readAll(dir, 1, ApiKeyRecord.class, "API key file", r -> records.put(r.keyHash(), r));
  }
}
