package dev.kubecoderun.it;

import dev.kubecoderun.Application;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.testing.SandboxUids;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/** A server of its own, for tests that restart it or need other limits than the shared one. */
final class StandaloneServer {
  private StandaloneServer() {}

  static Application start(Path dataDir, Map<String, String> overrides) {
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", TestServer.KEY);
    env.put("PATH", System.getenv("PATH")); // where the toolchains are found
    env.put("API_HOST", "127.0.0.1");
    env.put("API_PORT", "0");
    env.put("DATA_DIR", dataDir.toString());
    env.put(
        "RUNNER_BIN",
        Path.of(System.getenv().getOrDefault("RUNNER_BIN", "target/runner"))
            .toAbsolutePath()
            .toString());
    env.put("POD_POOL_PY", "0");
    env.put("POD_POOL_JS", "0");
    env.put("SHUTDOWN_GRACE_SECONDS", "20");
    env.putAll(overrides);
    return SandboxUids.start(env, e -> Application.start(Config.from(e)));
  }
}
