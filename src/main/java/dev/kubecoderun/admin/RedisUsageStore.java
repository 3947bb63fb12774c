package dev.kubecoderun.admin;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.redis.RedisConnection;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;

/**
 * Usage in Redis, shared by every replica: hash {@code {p}usage:hour:{yyyy-MM-dd-HH}} (expires
 * after the retention), hash {@code {p}usage:minute:{yyyy-MM-dd-HH:mm}} (two hours) and list {@code
 * {p}usage:failures} (the latest 200, JSON). Each hash is updated by one script on its one key, so
 * it works in cluster mode too.
 */
public final class RedisUsageStore implements UsageStore {
  private static final String ADD =
      """
      for i = 1, #ARGV - 1, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end
      redis.call('EXPIRE', KEYS[1], ARGV[#ARGV])
      return 1
      """;

  private static final String PUSH =
      """
      redis.call('LPUSH', KEYS[1], ARGV[1])
      redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
      return 1
      """;

  private final RedisConnection redis;
  private final Duration retention;

  public RedisUsageStore(RedisConnection redis, Duration retention) {
    this.redis = redis;
    this.retention = retention;
  }

  @Override
  public void record(UsageEvent e) {
    add(
        redis.key("usage:hour:" + HOUR.format(e.at())),
        UsageCounts.fields(e.subject(), e),
        retention.plusHours(1));
    add(
        redis.key("usage:minute:" + MINUTE.format(e.at())),
        UsageCounts.fields("*", e),
        MINUTES_KEPT.plusMinutes(1));
    if (e.isFailure()) {
      String json = Json.writeString(e);
      redis.run(
          j ->
              j.eval(
                  PUSH,
                  List.of(redis.key("usage:failures")),
                  List.of(json, Integer.toString(FAILURES_KEPT))));
    }
  }

  private void add(String key, Map<String, Long> fields, Duration ttl) {
    List<String> args = new ArrayList<>();
    fields.forEach(
        (f, v) -> {
          args.add(f);
          args.add(Long.toString(v));
        });
    args.add(Long.toString(ttl.toSeconds()));
    redis.run(j -> j.eval(ADD, List.of(key), args));
  }

  @Override
  public NavigableMap<Instant, Map<String, Long>> hours(Instant from, Instant to) {
    return read("usage:hour:", HOUR, from.truncatedTo(ChronoUnit.HOURS), to, ChronoUnit.HOURS);
  }

  @Override
  public NavigableMap<Instant, Map<String, Long>> minutes(Instant from, Instant to) {
    return read(
        "usage:minute:", MINUTE, from.truncatedTo(ChronoUnit.MINUTES), to, ChronoUnit.MINUTES);
  }

  private NavigableMap<Instant, Map<String, Long>> read(
      String prefix,
      java.time.format.DateTimeFormatter format,
      Instant from,
      Instant to,
      ChronoUnit step) {
    NavigableMap<Instant, Map<String, Long>> out = new TreeMap<>();
    for (Instant t = from; t.isBefore(to); t = t.plus(1, step)) {
      String key = redis.key(prefix + format.format(t));
      Map<String, String> h = redis.call(j -> j.hgetAll(key));
      if (!h.isEmpty()) {
        Map<String, Long> counters = new HashMap<>();
        h.forEach(
            (f, v) -> {
              try {
                counters.put(f, Long.parseLong(v));
              } catch (NumberFormatException ignored) {
                // not a counter of ours
              }
            });
        out.put(t, counters);
      }
    }
    return out;
  }

  @Override
  public List<UsageEvent> failures(int limit) {
    List<UsageEvent> out = new ArrayList<>();
    for (String json :
        redis.call(j -> j.lrange(redis.key("usage:failures"), 0, Math.max(0, limit - 1)))) {
      try {
        out.add(Json.read(json.getBytes(StandardCharsets.UTF_8), UsageEvent.class));
      } catch (RuntimeException ignored) {
        // an entry of another version
      }
    }
    return out;
  }
}
