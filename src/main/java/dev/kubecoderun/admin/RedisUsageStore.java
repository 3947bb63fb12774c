package dev.kubecoderun.admin;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.redis.RedisHashes;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import redis.clients.jedis.Response;

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

  /**
   * One batch: the hour's and the minute's counters and, for a failure, the list. Sent at most once
   * ({@link RedisConnection#pipelinedOnce}): when the connection fails after Redis applied the
   * batch, a retry would count the execution twice, so the record fails and is lost instead ({@link
   * Usage} logs and counts it). A retry made harmless would need a marker per execution beside each
   * counter hash (in its cluster slot, for as long as a late retry may come), so a key per
   * execution, to save the rare record lost with its connection.
   */
  @Override
  public void record(UsageEvent e) {
    String hour = redis.key("usage:hour:" + HOUR.format(e.at()));
    List<String> hourArgs = args(UsageCounts.fields(e.subject(), e), retention.plusHours(1));
    String minute = redis.key("usage:minute:" + MINUTE.format(e.at()));
    List<String> minuteArgs = args(UsageCounts.fields("*", e), MINUTES_KEPT.plusMinutes(1));
    String failure = e.isFailure() ? Json.writeString(e) : null;
    redis.pipelinedOnce(
        p -> {
          List<Response<Object>> replies = new ArrayList<>();
          replies.add(p.eval(ADD, List.of(hour), hourArgs));
          replies.add(p.eval(ADD, List.of(minute), minuteArgs));
          if (failure != null) {
            replies.add(
                p.eval(
                    PUSH,
                    List.of(redis.key("usage:failures")),
                    List.of(failure, Integer.toString(FAILURES_KEPT))));
          }
          p.sync();
          // A script's error is in its reply: get() throws it.
          replies.forEach(Response::get);
        });
  }

  /** The script's arguments: field, increment, ..., then the TTL in seconds. */
  private static List<String> args(Map<String, Long> fields, Duration ttl) {
    List<String> args = new ArrayList<>();
    fields.forEach(
        (f, v) -> {
          args.add(f);
          args.add(Long.toString(v));
        });
    args.add(Long.toString(ttl.toSeconds()));
    return args;
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

  /** Every bucket of the window in one round trip (a month is 720 hours). */
  private NavigableMap<Instant, Map<String, Long>> read(
      String prefix, DateTimeFormatter format, Instant from, Instant to, ChronoUnit step) {
    List<Instant> starts = new ArrayList<>();
    for (Instant t = from; t.isBefore(to); t = t.plus(1, step)) {
      starts.add(t);
    }
    List<String> keys = starts.stream().map(t -> redis.key(prefix + format.format(t))).toList();
    List<Map<String, String>> hashes = redis.call(j -> RedisHashes.getAll(j, keys));
    NavigableMap<Instant, Map<String, Long>> out = new TreeMap<>();
    for (int i = 0; i < starts.size(); i++) {
      Map<String, String> h = hashes.get(i);
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
        out.put(starts.get(i), counters);
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
