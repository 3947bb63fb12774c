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

/**
 * Builds the jedis client for REDIS_MODE: standalone, sentinel or cluster, with TLS, a bounded pool
 * and timeouts. Nothing connects here: the first command does, so the API starts while Redis is
 * still coming up.
 */
public final class RedisClients {
  private RedisClients() {}

  public static RedisConnection connect(Config.Redis cfg) {
    return new RedisConnection(client(cfg), cfg.keyPrefix());
  }

  static UnifiedJedis client(Config.Redis cfg) {
    ConnectionPoolConfig pool = new ConnectionPoolConfig();
    pool.setMaxTotal(cfg.maxConnections());
    pool.setMaxIdle(cfg.maxConnections());
    // A caller waits at most the socket timeout for a free connection, then gets a 503.
    pool.setMaxWait(cfg.socketTimeout());
    JedisClientConfig client = clientConfig(cfg, cfg.password(), cfg.database());
    return switch (cfg.mode()) {
      case STANDALONE ->
          RedisClient.builder()
              .hostAndPort(cfg.host(), cfg.port())
              .clientConfig(client)
              .poolConfig(pool)
              .build();
      case SENTINEL ->
          RedisSentinelClient.builder()
              .masterName(cfg.sentinelMaster())
              .sentinels(nodes(cfg.sentinelNodes()))
              .clientConfig(client)
              .sentinelClientConfig(clientConfig(cfg, cfg.sentinelPassword(), 0))
              .poolConfig(pool)
              .build();
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
