package dev.kubecoderun;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** The API as a process of its own ({@link Main}), as it runs in production. */
final class MainProcess {
  private MainProcess() {}

  /**
   * Main on this test's class path, with a clean environment: an API key, loopback, a fresh
   * DATA_DIR, then {@code env} (which may replace any of them). Its stdout is discarded.
   */
  static ProcessBuilder builder(String apiKey, Map<String, String> env) throws IOException {
    Path data = Files.createTempDirectory("kcr-main-");
    String java = ProcessHandle.current().info().command().orElse("java");
    ProcessBuilder pb =
        new ProcessBuilder(
                java, "-cp", System.getProperty("java.class.path"), "dev.kubecoderun.Main")
            .redirectOutput(ProcessBuilder.Redirect.DISCARD);
    Map<String, String> e = pb.environment();
    e.clear();
    e.put("PATH", System.getenv().getOrDefault("PATH", "/usr/bin:/bin"));
    e.put("API_KEY", apiKey);
    e.put("API_HOST", "127.0.0.1");
    e.put("DATA_DIR", data.toString());
    e.putAll(env);
    return pb;
  }
}
