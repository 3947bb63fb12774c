package dev.kubecoderun.redis;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.UnifiedJedis;

/** Small helpers for hashes: written and read through Lua scripts, or many read at once. */
public final class RedisHashes {
  /**
   * Sets a whole hash and its TTL in one step (the hash never exists without its expiry). KEYS[1]
   * the hash; ARGV[1] TTL seconds (0 = none), then field, value, ...
   */
  public static final String REPLACE_WITH_TTL =
      """
      redis.call('DEL', KEYS[1])
      redis.call('HSET', KEYS[1], unpack(ARGV, 2))
      if tonumber(ARGV[1]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
      return 1
      """;

  private RedisHashes() {}

  /** TTL argument, then the fields flattened: the ARGV of {@link #REPLACE_WITH_TTL}. */
  public static List<String> args(long ttlSeconds, Map<String, String> fields) {
    List<String> args = new ArrayList<>(1 + 2 * fields.size());
    args.add(Long.toString(ttlSeconds));
    fields.forEach(
        (k, v) -> {
          args.add(k);
          args.add(v == null ? "" : v);
        });
    return args;
  }

  /** An HGETALL reply from a script (a flat field, value, ... list) as a map. */
  public static Map<String, String> fromFlatList(Object reply) {
    Map<String, String> out = new LinkedHashMap<>();
    if (reply instanceof List<?> list) {
      for (int i = 0; i + 1 < list.size(); i += 2) {
        out.put(String.valueOf(list.get(i)), String.valueOf(list.get(i + 1)));
      }
    }
    return out;
  }

  /**
   * HGETALL of every key in one pipelined round trip (not one per key), in the keys' order; a
   * missing key's hash is empty. Inside {@link RedisConnection#call}: a read, safe to repeat.
   */
  public static List<Map<String, String>> getAll(UnifiedJedis j, List<String> keys) {
    List<Response<Map<String, String>>> replies = new ArrayList<>(keys.size());
    try (AbstractPipeline p = j.pipelined()) {
      for (String key : keys) {
        replies.add(p.hgetAll(key));
      }
      p.sync();
    }
    return replies.stream().map(Response::get).toList();
  }
}
