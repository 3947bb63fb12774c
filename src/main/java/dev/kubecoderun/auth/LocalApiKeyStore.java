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
 *
 * <p>A key's uses go to a file of their own under {@code meta/api-key-usage}, not flushed (every
 * request counts one): the record's file is written, flushed, only by the admin API's changes, so a
 * power cut that empties a file written just before it (ext4 without auto_da_alloc, XFS) can cost a
 * count, never the key.
 */
public final class LocalApiKeyStore implements ApiKeyStore {
  private record Expiring(long count, Instant expiresAt) {}

  /** What the usage file holds. */
  private record Usage(String keyHash, long usageCount, Instant lastUsedAt) {}

  private final Clock clock;
  private final Path dir;
  private final Path usageDir;
  private final Map<String, ApiKeyRecord> records = new ConcurrentHashMap<>();
  private final Map<String, Expiring> counters = new ConcurrentHashMap<>();
  // A counter's key names its window ("second:...:05"), so an expired one never comes back to be
  // replaced: every SWEEP_EVERY increments, the expired ones go.
  private static final int SWEEP_EVERY = 1024;
  private final AtomicLong increments = new AtomicLong();

  /** Runs before each file write (tests: holds a write where a racing delete would slip in). */
  volatile Runnable beforeWrite = () -> {};

  /** Records in memory only (tests). */
  public LocalApiKeyStore(Clock clock) {
    this.clock = clock;
    this.dir = null;
    this.usageDir = null;
  }

  /** Records kept under {@code dataDir/meta/api-keys}, loaded now. */
  public LocalApiKeyStore(Clock clock, Path dataDir) {
    this.clock = clock;
    this.dir = dataDir.resolve("meta/api-keys");
    this.usageDir = dataDir.resolve("meta/api-key-usage");
    load();
  }

  @Override
  public Optional<ApiKeyRecord> find(String keyHash) {
    return Optional.ofNullable(records.get(keyHash));
  }

  @Override
  public void save(ApiKeyRecord record) {
    records.compute(record.keyHash(), (k, old) -> persisted(record));
  }

  @Override
  public boolean update(
      String keyHash, String name, Boolean enabled, Map<RateWindow, Long> limits) {
    return records.computeIfPresent(
            keyHash,
            (k, r) ->
                persisted(
                    new ApiKeyRecord(
                        r.keyHash(),
                        r.keyPrefix(),
                        name != null ? name : r.name(),
                        r.createdAt(),
                        enabled != null ? enabled : r.enabled(),
                        limits != null ? limits : r.limits(),
                        r.usageCount(),
                        r.lastUsedAt(),
                        r.metadata())))
        != null;
  }

  @Override
  public List<ApiKeyRecord> list() {
    return List.copyOf(records.values());
  }

  @Override
  public boolean delete(String keyHash) {
    boolean[] existed = {false};
    records.compute(
        keyHash,
        (k, old) -> {
          existed[0] = old != null;
          if (dir != null) {
            try {
              Files.deleteIfExists(file(k));
              Files.deleteIfExists(usageFile(k));
            } catch (IOException e) {
              throw new UncheckedIOException(e);
            }
          }
          return null;
        });
    return existed[0];
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
    records.computeIfPresent(
        keyHash,
        (k, old) -> {
          ApiKeyRecord used = old.withUsage(old.usageCount() + 1, now);
          if (usageDir != null) {
            beforeWrite.run();
            LocalDisk.write(usageFile(k), Json.write(new Usage(k, used.usageCount(), now)), false);
          }
          return used;
        });
  }

  /**
   * Writes {@code r}'s file and returns it; only ever called inside the map's step (compute) of its
   * key, which a delete or another change of the same key waits for: a file is never written for a
   * record already deleted (it would bring the key back at the next start), nor over a newer one. A
   * write that fails leaves the map as it was.
   */
  private ApiKeyRecord persisted(ApiKeyRecord r) {
    if (dir != null) {
      beforeWrite.run();
      LocalDisk.write(file(r.keyHash()), Json.write(r));
    }
    return r;
  }

  private Path file(String keyHash) {
    if (!keyHash.matches("[0-9a-f]{64}")) {
      throw new IllegalArgumentException("not a key hash: " + keyHash);
    }
    return dir.resolve(keyHash + ".json");
  }

  private Path usageFile(String keyHash) {
    file(keyHash); // the same check of the name
    return usageDir.resolve(keyHash + ".json");
  }

  private void load() {
    LocalDisk.readAll(dir, 1, ApiKeyRecord.class, "API key file", r -> records.put(r.keyHash(), r));
    // Uses newer than the record's own figures (a record is rewritten only by admin changes).
    LocalDisk.readAll(
        usageDir,
        1,
        Usage.class,
        "API key usage file",
        u ->
            records.computeIfPresent(
                u.keyHash(),
                (k, r) ->
                    u.usageCount() > r.usageCount()
                        ? r.withUsage(u.usageCount(), u.lastUsedAt())
                        : r));
  }
}
