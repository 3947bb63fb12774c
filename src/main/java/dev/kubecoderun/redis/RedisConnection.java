package dev.kubecoderun.redis;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.Function;
import java.util.logging.Logger;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.RedisSentinelClient;
import redis.clients.jedis.UnifiedJedis;
import redis.clients.jedis.exceptions.JedisConnectionException;
import redis.clients.jedis.exceptions.JedisDataException;
import redis.clients.jedis.exceptions.JedisException;

/**
 * The one Redis client of the service, shared by every Redis store. Every command goes through
 * {@link #call}, which turns "Redis is unreachable" into an {@link UncheckedIOException} (the API
 * answers 503 with Retry-After) and keeps working once Redis is back, without a restart.
 */
public final class RedisConnection implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(RedisConnection.class.getName());

  private final UnifiedJedis jedis;
  private final String prefix;
  private final Runnable onFailure;

  public RedisConnection(UnifiedJedis jedis, String keyPrefix) {
    this(jedis, keyPrefix, () -> {});
  }

  /** {@code onFailure} runs once per command that fails for good (the store-errors metric). */
  public RedisConnection(UnifiedJedis jedis, String keyPrefix, Runnable onFailure) {
    this.jedis = jedis;
    this.prefix = keyPrefix == null ? "" : keyPrefix;
    this.onFailure = onFailure;
  }

  /** {@code suffix} with REDIS_KEY_PREFIX in front, as every key of the reference layout. */
  public String key(String suffix) {
    return prefix + suffix;
  }

  public String prefix() {
    return prefix;
  }

  /**
   * Runs {@code command}. A connection failure is retried once: after a Redis restart the idle
   * pooled connections are all dead, and the first command on each would fail, so they are dropped
   * first. The retry never gets the connection that failed, nor any connection with a reply left
   * unread: a connection that failed mid-command is broken and destroyed, never pooled again (see
   * {@link RedisClients}). {@code command} may therefore run twice and must be safe to repeat.
   */
  public <T> T call(Function<UnifiedJedis, T> command) {
    try {
      return command.apply(jedis);
    } catch (JedisConnectionException first) {
      dropIdleConnections();
      try {
        return command.apply(jedis);
      } catch (JedisException e) {
        onFailure.run();
        throw unavailable(e);
      }
    } catch (JedisException e) {
      onFailure.run();
      throw unavailable(e);
    }
  }

  /**
   * Like {@link #call}, for a write that must not be applied twice (a counter's increment): a
   * connection failure is not retried. The connection may have failed after Redis applied the
   * command, its reply lost on the way back; nothing tells that apart from a command that never
   * arrived, and a retry would apply it again. The write fails as unavailable instead, as a failure
   * of {@link #call} does, after the idle connections are dropped: after a Redis restart they are
   * all dead, and the next command gets a live one.
   */
  public <T> T callOnce(Function<UnifiedJedis, T> command) {
    try {
      return command.apply(jedis);
    } catch (JedisException e) {
      if (e instanceof JedisConnectionException) {
        dropIdleConnections();
      }
      onFailure.run();
      throw unavailable(e);
    }
  }

  /** Like {@link #callOnce} for commands without a result. */
  public void runOnce(java.util.function.Consumer<UnifiedJedis> command) {
    callOnce(
        j -> {
          command.accept(j);
          return null;
        });
  }

  /** Like {@link #call} for commands without a result. */
  public void run(java.util.function.Consumer<UnifiedJedis> command) {
    call(
        j -> {
          command.accept(j);
          return null;
        });
  }

  /** Only idle connections: one in use is its borrower's until returned (or destroyed). */
  private void dropIdleConnections() {
    if (jedis instanceof RedisClient standalone) {
      standalone.getPool().clear();
    } else if (jedis instanceof RedisSentinelClient sentinel) {
      sentinel.getPrimaryNodesConnectionMap().values().forEach(pool -> pool.clear());
    }
  }

  /**
   * Failures of the connection or of a Redis that cannot serve right now become an IO failure;
   * anything else (a wrong type, a script error) is a bug and stays a 500.
   */
  private static RuntimeException unavailable(JedisException e) {
    if (e instanceof JedisDataException && !isTransient(e.getMessage())) {
      return new IllegalStateException("Redis command failed: " + e.getMessage(), e);
    }
    LOG.fine(() -> "Redis unavailable: " + e);
    return new UncheckedIOException(
        "Redis unavailable: " + e.getMessage(), new IOException(e.getMessage(), e));
  }

  private static boolean isTransient(String message) {
    if (message == null) {
      return false;
    }
    for (String p : new String[] {"LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"}) {
      if (message.startsWith(p)) {
        return true;
      }
    }
    return false;
  }

  @Override
  public void close() {
    jedis.close();
  }
}
