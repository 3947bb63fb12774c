package dev.kubecoderun.execution;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.redis.RedisConnection;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import redis.clients.jedis.params.SetParams;

/**
 * {@link ProgrammaticStore} in Redis, shared by every replica: keys {@code {p}ptc:exec:ID}, {@code
 * {p}ptc:token:TOKEN}, {@code {p}ptc:used:TOKEN} (SET NX: single use), {@code {p}ptc:final:ID},
 * {@code {p}ptc:wait:ID} (a run waiting for its sandbox: a cancel marks it while it is there, the
 * owner reads and deletes it at once) and {@code {p}ptc:req:PRINCIPAL:REQUEST_ID}, all with an
 * expiry.
 */
public final class RedisProgrammaticStore implements ProgrammaticStore {
  private static final Duration POLL = Duration.ofMillis(50);
  private static final String CANCELLED = "cancelled";
  // Only while the key is there (a run handed over has deleted it), keeping its expiry; SET XX
  // KEEPTTL needs Redis 6.
  private static final String CANCEL =
      "local t = redis.call('PTTL', KEYS[1]); if t > 0 then"
          + " redis.call('PSETEX', KEYS[1], t, ARGV[1]); return 1 end; return 0";
  // GETDEL, also on Redis before 6.2.
  private static final String GET_AND_DELETE =
      "local v = redis.call('GET', KEYS[1]); redis.call('DEL', KEYS[1]); return v";

  // DEL only while the key holds ARGV[1].
  private static final String DELETE_IF =
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end;"
          + " return 0";

  private final RedisConnection redis;

  public RedisProgrammaticStore(RedisConnection redis) {
    this.redis = redis;
  }

  private void set(String key, String value, Duration ttl) {
    redis.call(j -> j.set(redis.key(key), value, SetParams.setParams().px(ttl.toMillis())));
  }

  private Optional<String> get(String key) {
    return Optional.ofNullable(redis.call(j -> j.get(redis.key(key))));
  }

  @Override
  public void putExecution(String id, Execution execution, Duration ttl) {
    set("ptc:exec:" + id, Json.writeString(execution), ttl);
  }

  @Override
  public Optional<Execution> execution(String id) {
    return get("ptc:exec:" + id)
        .map(s -> Json.read(s.getBytes(java.nio.charset.StandardCharsets.UTF_8), Execution.class));
  }

  @Override
  public void deleteExecution(String id) {
    redis.call(j -> j.del(redis.key("ptc:exec:" + id)));
  }

  @Override
  public void putToken(String token, Token record, Duration ttl) {
    set("ptc:token:" + token, Json.writeString(record), ttl);
  }

  @Override
  public Optional<Token> token(String token) {
    return get("ptc:token:" + token)
        .map(s -> Json.read(s.getBytes(java.nio.charset.StandardCharsets.UTF_8), Token.class));
  }

  @Override
  public boolean used(String token) {
    return get("ptc:used:" + token).isPresent();
  }

  @Override
  public boolean consume(String token, Duration ttl) {
    String ok =
        redis.call(
            j ->
                j.set(
                    redis.key("ptc:used:" + token),
                    "1",
                    SetParams.setParams().nx().px(ttl.toMillis())));
    return "OK".equals(ok);
  }

  @Override
  public void putFinal(String executionId, String json, Duration ttl) {
    set("ptc:final:" + executionId, json, ttl);
  }

  @Override
  public Optional<String> awaitFinal(String executionId, Duration wait)
      throws InterruptedException {
    long end = System.nanoTime() + wait.toNanos();
    while (true) {
      Optional<String> f = get("ptc:final:" + executionId);
      if (f.isPresent() || System.nanoTime() - end > 0) {
        return f;
      }
      Thread.sleep(POLL);
    }
  }

  @Override
  public void putWaiting(String executionId, Duration ttl) {
    set("ptc:wait:" + executionId, "waiting", ttl);
  }

  @Override
  public boolean cancelWaiting(String executionId) {
    Object marked =
        redis.call(
            j -> j.eval(CANCEL, List.of(redis.key("ptc:wait:" + executionId)), List.of(CANCELLED)));
    return Long.valueOf(1).equals(marked);
  }

  @Override
  public boolean endWaiting(String executionId) {
    Object v =
        redis.call(
            j -> j.eval(GET_AND_DELETE, List.of(redis.key("ptc:wait:" + executionId)), List.of()));
    return CANCELLED.equals(v);
  }

  @Override
  public void putRequest(String principal, String requestId, String executionId, Duration ttl) {
    set("ptc:req:" + principal + ":" + requestId, executionId, ttl);
  }

  @Override
  public Optional<String> request(String principal, String requestId) {
    return get("ptc:req:" + principal + ":" + requestId);
  }

  @Override
  public void deleteRequest(String principal, String requestId, String executionId) {
    redis.call(
        j ->
            j.eval(
                DELETE_IF,
                List.of(redis.key("ptc:req:" + principal + ":" + requestId)),
                List.of(executionId)));
  }
}
