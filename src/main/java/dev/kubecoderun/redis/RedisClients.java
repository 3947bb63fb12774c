package dev.kubecoderun.redis;

import dev.kubecoderun.config.Config;
import java.util.LinkedHashSet;
import java.util.Set;
import redis.clients.jedis.ConnectionPoolConfig;
import redis.clients.jedis.DefaultJedisClientConfig;
import redis.clients.jedis.HostAndPort;
import redis.clients.jedis.JedisClientConfig;
import redis.clients.jedis.RedisClient;
import redis.clients.jedis.RedisClusterClient;
import redis.clients.jedis.RedisSentinelClient;
import redis.clients.jedis.UnifiedJedis;
import redis.clients.jedis.providers.ConnectionProvider;
import redis.clients.jedis.providers.PooledConnectionProvider;
import redis.clients.jedis.providers.SentineledConnectionProvider;

/**
 * Builds the jedis client for REDIS_MODE: standalone, sentinel or cluster, with TLS, a bounded pool
 * and timeouts. In standalone mode nothing connects here: the first command does, so the API starts
 * while Redis is still coming up (sentinel mode asks the sentinels for the master at once).
 *
 * <p>A pooled connection only ever holds a reply its caller reads: jedis marks a connection broken
 * on any failure while writing a command or reading its reply, and the pool destroys a broken
 * connection instead of handing it out again; {@link CheckedCommandExecutor} does the same when a
 * reply read whole cannot be used. jedis's RESP3 handshake (HELLO) refuses a peer that is not
 * Redis, and {@link NoSelfConnectSocketFactory} refuses, in standalone mode, the one such peer a
 * local Redis that is down can leave behind: the connection to itself.
 */
public final class RedisClients {
  private RedisClients() {}

  public static RedisConnection connect(Config.Redis cfg) {
    return connect(cfg, () -> {});
  }

  /** {@code onFailure}: see {@link RedisConnection}. */
  public static RedisConnection connect(Config.Redis cfg, Runnable onFailure) {
    return new RedisConnection(client(cfg), cfg.keyPrefix(), onFailure);
  }

  static UnifiedJedis client(Config.Redis cfg) {
    ConnectionPoolConfig pool = new ConnectionPoolConfig();
    pool.setMaxTotal(cfg.maxConnections());
    pool.setMaxIdle(cfg.maxConnections());
    // A caller waits at most the socket timeout for a free connection, then gets a 503.
    pool.setMaxWait(cfg.socketTimeout());
    JedisClientConfig client = clientConfig(cfg, cfg.password(), cfg.database());
    return switch (cfg.mode()) {
      case STANDALONE -> {
        HostAndPort node = new HostAndPort(cfg.host(), cfg.port());
        ConnectionProvider provider =
            new PooledConnectionProvider(
                new ClosingConnectionFactory(new NoSelfConnectSocketFactory(node, client), client),
                pool);
        yield RedisClient.builder()
            .hostAndPort(node)
            .clientConfig(client)
            .connectionProvider(provider)
            .commandExecutor(new CheckedCommandExecutor(provider))
            .build();
      }
      case SENTINEL -> {
        Set<HostAndPort> sentinels = nodes(cfg.sentinelNodes());
        ConnectionProvider provider =
            new SentineledConnectionProvider(
                cfg.sentinelMaster(),
                client,
                pool,
                sentinels,
                // Sentinels are asked through jedis's single-connection client, which speaks RESP2.
                DefaultJedisClientConfig.builder()
                    .from(clientConfig(cfg, cfg.sentinelPassword(), 0))
                    .serverDefaultProtocol()
                    .build());
        yield RedisSentinelClient.builder()
            .masterName(cfg.sentinelMaster())
            .sentinels(sentinels)
            .clientConfig(client)
            .connectionProvider(provider)
            .commandExecutor(new CheckedCommandExecutor(provider))
            .build();
      }
      case CLUSTER ->
          RedisClusterClient.builder()
              .nodes(nodes(cfg.clusterNodes()))
              .clientConfig(clientConfig(cfg, cfg.password(), 0))
              .poolConfig(pool)
              .build();
    };
  }

  private static JedisClientConfig clientConfig(Config.Redis cfg, String password, int db) {
    DefaultJedisClientConfig.Builder b =
        DefaultJedisClientConfig.builder()
            .connectionTimeoutMillis((int) cfg.connectTimeout().toMillis())
            .socketTimeoutMillis((int) cfg.socketTimeout().toMillis())
            .database(db)
            .clientName("kubecoderun");
    if (password != null) {
      b.password(password);
      if (cfg.username() != null) {
        b.user(cfg.username());
      }
    }
    if (cfg.tls().enabled()) {
      b.sslOptions(PemTls.sslOptions(cfg.tls()));
    }
    return b.build();
  }

  private static Set<HostAndPort> nodes(java.util.List<String> nodes) {
    Set<HostAndPort> out = new LinkedHashSet<>();
    for (String n : nodes) {
      out.add(HostAndPort.from(n));
    }
    return out;
  }
}
