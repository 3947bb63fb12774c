package dev.kubecoderun.redis;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.logging.Logger;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.Protocol;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.RedisSentinelClient;
import redis.clients.jedis.Response;
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
   * Like {@link #call}, for a batch of writes that must not be applied twice (a counter's
   * increment), sent on one connection: {@code batch} appends its commands to the pipeline, syncs
   * it and reads its replies.
   *
   * <p>A connection failure during the batch is not retried: the connection may have failed after
   * Redis applied it, its reply lost on the way back, and nothing tells that apart from a batch
   * that never arrived. The batch fails as unavailable instead, as a failure of {@link #call} does.
   *
   * <p>So that this stays the rare case, the batch goes on a connection that has just answered a
   * PING. After a Redis restart every idle pooled connection is dead; a dead one fails the PING,
   * which applies nothing, and the batch goes on a new connection. Without the PING, whether a
   * write is lost after a restart would depend on whether earlier commands happened to find the
   * dead connections first.
   */
  public void pipelinedOnce(Consumer<AbstractPipeline> batch) {
    AbstractPipeline p = livePipeline();
    try (p) {
      batch.accept(p);
    } catch (JedisException e) {
      if (e instanceof JedisConnectionException) {
        dropIdleConnections();
      }
      onFailure.run();
      throw unavailable(e);
    }
  }

  /**
   * A pipeline whose connection answered a PING, after the idle ones are dropped if one did not.
   */
  private AbstractPipeline livePipeline() {
    return call(
        j -> {
          AbstractPipeline p = j.pipelined();
          try {
            Response<Object> pong = p.sendCommand(Protocol.Command.PING, new String[0]);
            p.sync();
            pong.get();
            return p;
          } catch (RuntimeException e) {
            closeQuietly(p);
            throw e;
          }
        });
  }

  private static void closeQuietly(AbstractPipeline p) {
    try {
      p.close();
    } catch (RuntimeException e) {
      LOG.fine(() -> "closing a failed pipeline: " + e);
    }
  }

  /** Like {@link #call} for commands without a result. */
  public void run(Consumer<UnifiedJedis> command) {
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
