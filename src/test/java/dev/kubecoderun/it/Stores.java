package dev.kubecoderun.it;

import java.util.HashMap;
import java.util.Map;

/** The two kinds of stores a server runs on, for tests that check a behaviour on both. */
enum Stores {
  /** In memory and under DATA_DIR. */
  EMBEDDED,
  /** The test Redis and S3Proxy. */
  REDIS_AND_S3;

  /**
   * A server's settings for these stores, for the test to add its own to: on Redis and S3, keys
   * under a prefix of the server's own starting with {@code name}, and the bucket {@code name}.
   */
  Map<String, String> env(String name) {
    return this == REDIS_AND_S3
        ? TestServer.realStoresEnv(name + "-" + Long.toString(System.nanoTime(), 36) + ":", name)
        : new HashMap<>();
  }
}
