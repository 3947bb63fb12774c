package dev.kubecoderun.auth;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** A key store that cannot be reached: every call fails as RedisConnection's do (unit tests). */
final class DownApiKeyStore implements ApiKeyStore {
  private static UncheckedIOException fail() {
    return new UncheckedIOException(new IOException("Redis unavailable"));
  }

  @Override
  public Optional<ApiKeyRecord> find(String keyHash) {
    throw fail();
  }

  @Override
  public void save(ApiKeyRecord record) {
    throw fail();
  }

  @Override
  public boolean update(
      String keyHash, String name, Boolean enabled, Map<RateWindow, Long> limits) {
    throw fail();
  }

  @Override
  public List<ApiKeyRecord> list() {
    throw fail();
  }

  @Override
  public boolean delete(String keyHash) {
    throw fail();
  }

  @Override
  public void invalidate(String shortHash) {
    throw fail();
  }

  @Override
  public long increment(String shortHash, String counter, Duration ttl) {
    throw fail();
  }

  @Override
  public void decrement(String shortHash, String counter) {
    throw fail();
  }

  @Override
  public void recordUsage(String keyHash, Instant now) {
    throw fail();
  }
}
