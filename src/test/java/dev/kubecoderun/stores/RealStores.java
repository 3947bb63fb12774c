package dev.kubecoderun.stores;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.files.S3ObjectStore;
import dev.kubecoderun.redis.RedisClients;
import dev.kubecoderun.redis.RedisConnection;
import java.util.HashMap;
import java.util.Map;

/**
 * Clients of the test servers, built through the service's own configuration code (the Redis ones
 * for the tests of every package).
 */
public final class RealStores {
  private RealStores() {}

  /** A connection with a key prefix of its own, so test classes never see each other's keys. */
  public static RedisConnection redis(String prefix) {
    return redisAt(RedisServer.shared().url(), prefix);
  }

  /**
   * As {@link #redis}, to the Redis at {@code url}: a proxy's ({@link LostReplyProxy}), or one
   * nothing listens on. Its socket timeout is 2 s, so a Redis that stops answering fails a test
   * soon.
   */
  public static RedisConnection redisAt(String url, String prefix) {
    return RedisClients.connect(
        Config.from(
                Map.of(
                    "AUTH_ENABLED",
                    "false",
                    "REDIS_URL",
                    url,
                    "REDIS_KEY_PREFIX",
                    prefix,
                    "REDIS_SOCKET_TIMEOUT",
                    "2"))
            .redis());
  }

  /** A store on a bucket of its own. */
  static S3ObjectStore s3(String bucket) {
    return S3ObjectStore.create(config("unused:", bucket).s3());
  }

  /** An S3 store without touching the Redis test server (for a separate small-heap JVM). */
  static S3ObjectStore s3At(String endpoint, String bucket) {
    return S3ObjectStore.create(
        Config.from(
                Map.of(
                    "AUTH_ENABLED",
                    "false",
                    "MINIO_ENDPOINT",
                    endpoint,
                    "MINIO_ACCESS_KEY",
                    S3Server.ACCESS_KEY,
                    "MINIO_SECRET_KEY",
                    S3Server.SECRET_KEY,
                    "MINIO_BUCKET",
                    bucket))
            .s3());
  }

  static Config config(String prefix, String bucket) {
    Map<String, String> env = new HashMap<>();
    env.put("AUTH_ENABLED", "false");
    env.put("REDIS_URL", RedisServer.shared().url());
    env.put("REDIS_KEY_PREFIX", prefix);
    env.put("REDIS_SOCKET_TIMEOUT", "2");
    env.put("MINIO_ENDPOINT", S3Server.shared().endpoint());
    env.put("MINIO_ACCESS_KEY", S3Server.ACCESS_KEY);
    env.put("MINIO_SECRET_KEY", S3Server.SECRET_KEY);
    env.put("MINIO_BUCKET", bucket);
    return Config.from(env);
  }

  /** A key prefix no other test class (nor another run of this one) uses. */
  public static String uniquePrefix(String name) {
    return "kcr-test-" + name + "-" + Long.toString(System.nanoTime(), 36) + ":";
  }
}
