package dev.kubecoderun.auth;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** Managed keys, cache and counters in memory (embedded mode: nothing survives a restart). */
public final class LocalApiKeyStore implements ApiKeyStore {
  private record Expiring(String value, long count, Instant expiresAt) {}

  private final Clock clock;
  private final Map<String, ApiKeyRecord> records = new ConcurrentHashMap<>();
  private final Map<String, Expiring> cache = new ConcurrentHashMap<>();
  private final Map<String, Expiring> counters = new ConcurrentHashMap<>();

  public LocalApiKeyStore(Clock clock) {
    this.clock = clock;
  }

  @Override
  public Optional<ApiKeyRecord> find(String keyHash) {
    return Optional.ofNullable(records.get(keyHash));
  }

  @Override
  public void save(ApiKeyRecord record) {
    records.put(record.keyHash(), record);
  }

  @Override
  public Optional<String> cachedValidation(String shortHash) {
    Expiring e = cache.get(shortHash);
    return e == null || !e.expiresAt().isAfter(clock.instant())
        ? Optional.empty()
        : Optional.of(e.value());
  }

  @Override
  public void cacheValidation(String shortHash, String value, Duration ttl) {
    cache.put(shortHash, new Expiring(value, 0, clock.instant().plus(ttl)));
  }

  @Override
  public void invalidate(String shortHash) {
    cache.remove(shortHash);
  }

  @Override
  public long increment(String shortHash, String counter, Duration ttl) {
    Instant now = clock.instant();
    return counters
        .compute(
            shortHash + ":" + counter,
            (k, old) ->
                old == null || !old.expiresAt().isAfter(now)
                    ? new Expiring(null, 1, now.plus(ttl))
                    : new Expiring(null, old.count() + 1, old.expiresAt()))
        .count();
  }

  @Override
  public void decrement(String shortHash, String counter) {
    counters.computeIfPresent(
        shortHash + ":" + counter,
        (k, old) -> new Expiring(null, Math.max(0, old.count() - 1), old.expiresAt()));
  }

  @Override
  public void recordUsage(String keyHash, Instant now) {
    records.computeIfPresent(
        keyHash,
        (k, r) ->
            new ApiKeyRecord(
                r.keyHash(),
                r.keyPrefix(),
                r.name(),
                r.createdAt(),
                r.enabled(),
                r.limits(),
                r.usageCount() + 1,
                now));
  }
}
