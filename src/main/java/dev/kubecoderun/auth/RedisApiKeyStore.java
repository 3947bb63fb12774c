package dev.kubecoderun.auth;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.common.ThrottledWarning;
import dev.kubecoderun.redis.PyTime;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.redis.RedisHashes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;
import redis.clients.jedis.Response;

/**
 * Managed keys in Redis with the reference layout: hash {@code {p}api_keys:records:{sha256}}, set
 * {@code {p}api_keys:index}, counters {@code {p}api_keys:usage:{sha256[:16]}:{window}}. The Python
 * version also caches a key's validation in {@code {p}api_keys:valid:{sha256[:16]}}: this API never
 * reads it, but removes it when a key changes, for a Python replica sharing the Redis.
 */
public final class RedisApiKeyStore implements ApiKeyStore {
  /** INCR and, for a new counter, its EXPIRE in one step: no counter is ever left without TTL. */
  private static final String INCREMENT =
      """
      local n = redis.call('INCR', KEYS[1])
      if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
      return n
      """;

  /** Never recreates a counter that expired meanwhile. */
  private static final String DECREMENT =
      """
      if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
      return 0
      """;

  /**
   * HSET of the changed fields (ARGV: field, value, ...) only while the record exists, in one step:
   * a change racing a DELETE never recreates the key, and the usage fields are never touched.
   */
  private static final String UPDATE =
      """
      if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
      if #ARGV > 0 then redis.call('HSET', KEYS[1], unpack(ARGV)) end
      return 1
      """;

  private static final Map<RateWindow, String> LIMIT_FIELDS =
      Map.of(
          RateWindow.SECOND, "rate_limits_per_second",
          RateWindow.MINUTE, "rate_limits_per_minute",
          RateWindow.HOUR, "rate_limits_hourly",
          RateWindow.DAY, "rate_limits_daily",
          RateWindow.MONTH, "rate_limits_monthly");

  private static final Logger LOG = Logger.getLogger(RedisApiKeyStore.class.getName());

  private final RedisConnection redis;
  // A bad record is read on each request of its key: one line a minute is enough.
  private final ThrottledWarning unreadable = new ThrottledWarning(LOG, Duration.ofMinutes(1));

  public RedisApiKeyStore(RedisConnection redis) {
    this.redis = redis;
  }

  @Override
  public Optional<ApiKeyRecord> find(String keyHash) {
    return record(keyHash, redis.call(j -> j.hgetAll(recordKey(keyHash))));
  }

  /**
   * A record from its hash; empty when there is none (an empty hash is a missing key) or when it
   * cannot be read (a malformed date or limit, written by hand or another tool): skipped with a
   * warning, so one bad record neither fails the listing of every key nor opens its own key.
   */
  private Optional<ApiKeyRecord> record(String keyHash, Map<String, String> h) {
    if (h.isEmpty()) {
      return Optional.empty();
    }
    try {
      Map<RateWindow, Long> limits = new EnumMap<>(RateWindow.class);
      LIMIT_FIELDS.forEach(
          (w, field) -> {
            String v = h.get(field);
            if (v != null && !v.isBlank() && !v.equals("None")) {
              limits.put(w, Long.parseLong(v.trim()));
            }
          });
      return Optional.of(
          new ApiKeyRecord(
              keyHash,
              h.getOrDefault("key_prefix", ""),
              h.getOrDefault("name", ""),
              PyTime.parse(h.get("created_at")),
              "true".equalsIgnoreCase(h.get("enabled")),
              limits,
              parseLong(h.get("usage_count")),
              PyTime.parse(h.get("last_used_at")),
              metadata(h.get("metadata"))));
    } catch (RuntimeException e) {
      unreadable.warn("skipping unreadable API key record " + keyHash + ": " + e);
      return Optional.empty();
    }
  }

  /** The Python version's {@code metadata} field: a JSON object of strings. */
  private static Map<String, String> metadata(String json) {
    if (json == null || json.isBlank()) {
      return Map.of();
    }
    try {
      Map<String, String> out = new LinkedHashMap<>();
      Json.tree(json.getBytes(StandardCharsets.UTF_8))
          .properties()
          .forEach(e -> out.put(e.getKey(), e.getValue().asText()));
      return out;
    } catch (IOException | RuntimeException e) {
      return Map.of();
    }
  }

  /**
   * The index, then every record in one pipelined round trip (not one per key); an index entry
   * whose record is gone (deleted meanwhile) is left out.
   */
  @Override
  public List<ApiKeyRecord> list() {
    List<String> hashes = List.copyOf(redis.call(j -> j.smembers(redis.key("api_keys:index"))));
    List<String> keys = hashes.stream().map(this::recordKey).toList();
    List<Map<String, String>> records = redis.call(j -> RedisHashes.getAll(j, keys));
    List<ApiKeyRecord> out = new ArrayList<>();
    for (int i = 0; i < hashes.size(); i++) {
      record(hashes.get(i), records.get(i)).ifPresent(out::add);
    }
    return out;
  }

  /** The record first: once it is gone, no replica accepts the key. */
  @Override
  public boolean delete(String keyHash) {
    long deleted = redis.call(j -> j.del(recordKey(keyHash)));
    redis.run(
        j -> {
          j.srem(redis.key("api_keys:index"), keyHash);
          j.del(cacheKey(ApiKeyRecord.shortHash(keyHash)));
        });
    return deleted > 0;
  }

  @Override
  public void save(ApiKeyRecord r) {
    Map<String, String> h = new LinkedHashMap<>();
    h.put("key_hash", r.keyHash());
    h.put("key_prefix", r.keyPrefix());
    h.put("name", r.name());
    h.put("created_at", PyTime.format(r.createdAt()));
    h.put("enabled", Boolean.toString(r.enabled()));
    LIMIT_FIELDS.forEach(
        (w, field) -> h.put(field, r.limits().containsKey(w) ? r.limits().get(w).toString() : ""));
    h.put("metadata", Json.writeString(r.metadata()));
    h.put("last_used_at", r.lastUsedAt() == null ? "" : PyTime.format(r.lastUsedAt()));
    h.put("usage_count", Long.toString(r.usageCount()));
    h.put("source", "managed");
    redis.run(
        j -> {
          j.hset(recordKey(r.keyHash()), h);
          j.sadd(redis.key("api_keys:index"), r.keyHash());
        });
  }

  /** Safe to repeat (see RedisConnection.call): it sets the same fields again. */
  @Override
  public boolean update(
      String keyHash, String name, Boolean enabled, Map<RateWindow, Long> limits) {
    List<String> fields = new ArrayList<>();
    if (name != null) {
      fields.addAll(List.of("name", name));
    }
    if (enabled != null) {
      fields.addAll(List.of("enabled", enabled.toString()));
    }
    if (limits != null) {
      LIMIT_FIELDS.forEach(
          (w, field) ->
              fields.addAll(List.of(field, limits.containsKey(w) ? limits.get(w).toString() : "")));
    }
    Object updated = redis.call(j -> j.eval(UPDATE, List.of(recordKey(keyHash)), fields));
    return Long.valueOf(1).equals(updated);
  }

  @Override
  public void invalidate(String shortHash) {
    redis.run(j -> j.del(cacheKey(shortHash)));
  }

  @Override
  public long increment(String shortHash, String counter, Duration ttl) {
    Object n =
        redis.call(
            j ->
                j.eval(
                    INCREMENT,
                    List.of(usageKey(shortHash, counter)),
                    List.of(Long.toString(ttl.toSeconds()))));
    return (Long) n;
  }

  @Override
  public void decrement(String shortHash, String counter) {
    redis.run(j -> j.eval(DECREMENT, List.of(usageKey(shortHash, counter)), List.of()));
  }

  /**
   * Only on an existing record: a usage update never creates a partial record. Sent at most once:
   * an increment applied before its connection failed must not be applied again.
   */
  @Override
  public void recordUsage(String keyHash, Instant now) {
    redis.pipelinedOnce(
        p -> {
          Response<Object> reply =
              p.eval(
                  """
                  if redis.call('EXISTS', KEYS[1]) == 1 then
                    redis.call('HINCRBY', KEYS[1], 'usage_count', 1)
                    redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1])
                  end
                  return 1
                  """,
                  List.of(recordKey(keyHash)),
                  List.of(PyTime.format(now)));
          p.sync();
          reply.get();
        });
  }

  private String recordKey(String keyHash) {
    return redis.key("api_keys:records:" + keyHash);
  }

  private String cacheKey(String shortHash) {
    return redis.key("api_keys:valid:" + shortHash);
  }

  private String usageKey(String shortHash, String counter) {
    return redis.key("api_keys:usage:" + shortHash + ":" + counter);
  }

  private static long parseLong(String s) {
    try {
      return s == null || s.isBlank() ? 0 : Long.parseLong(s.trim());
    } catch (NumberFormatException e) {
      return 0;
    }
  }
}
