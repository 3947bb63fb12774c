package dev.kubecoderun.execution;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.redis.RedisConnection;
import java.time.Duration;
import java.util.Optional;
import redis.clients.jedis.params.SetParams;

/**
 * {@link ProgrammaticStore} in Redis, shared by every replica: keys {@code {p}ptc:exec:ID}, {@code
 * {p}ptc:token:TOKEN}, {@code {p}ptc:used:TOKEN} (SET NX: single use), {@code {p}ptc:final:ID} and
 * {@code {p}ptc:req:PRINCIPAL:REQUEST_ID}, all with an expiry.
 */
public final class RedisProgrammaticStore implements ProgrammaticStore {
  private static final Duration POLL = Duration.ofMillis(50);

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
  public void putRequest(String principal, String requestId, String executionId, Duration ttl) {
    set("ptc:req:" + principal + ":" + requestId, executionId, ttl);
  }

  @Override
  public Optional<String> request(String principal, String requestId) {
    return get("ptc:req:" + principal + ":" + requestId);
  }
}
