package dev.kubecoderun.config;

import java.util.HashMap;
import java.util.Map;

/** Configurations read as the API reads its environment, for the tests of this package. */
final class TestEnv {
  /** An API key long enough to be accepted. */
  static final String KEY = "k".repeat(20);

  private TestEnv() {}

  /** The configuration of an API key and {@code kv}: names and values, in turn. */
  static Config config(String... kv) {
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", KEY);
    for (int i = 0; i < kv.length; i += 2) {
      env.put(kv[i], kv[i + 1]);
    }
    return Config.from(env);
  }
}
