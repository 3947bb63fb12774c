package dev.kubecoderun;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** A start that cannot succeed ends with one line naming the setting, not a stack trace. */
class StartFailuresTest {
  private record Ended(int status, List<String> stderr) {}

  private static Ended start(Map<String, String> env) throws IOException, InterruptedException {
    Process p = MainProcess.builder("start-failures-test-key-0123", env).start();
    if (!p.waitFor(60, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError("the API started with " + env);
    }
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    return new Ended(p.exitValue(), err.lines().toList());
  }

  private static void assertOneLine(Ended ended, String prefix) {
    assertEquals(2, ended.status(), ended.stderr().toString());
    assertEquals(1, ended.stderr().size(), String.join("\n", ended.stderr()));
    assertTrue(ended.stderr().get(0).startsWith(prefix), ended.stderr().get(0));
  }

  @Test
  void anUnknownLogLevelIsOneLine() throws IOException, InterruptedException {
    assertOneLine(
        start(Map.of("LOG_LEVEL", "LOUD", "API_PORT", "0")), "configuration error: LOG_LEVEL=LOUD");
  }

  @Test
  void settingsThatFailOnlyWhenUsedAreOneLineNamingThem() throws IOException, InterruptedException {
    assertOneLine(
        start(
            Map.of(
                "REDIS_URL",
                "rediss://127.0.0.1:1",
                "REDIS_SSL_CA_CERTS",
                "/nonexistent/ca.pem",
                "API_PORT",
                "0")),
        "configuration error: REDIS_SSL_CA_CERTS=/nonexistent/ca.pem cannot be used");
    assertOneLine(
        start(
            Map.of(
                "MINIO_ENDPOINT",
                "127.0.0.1:1",
                "MINIO_ACCESS_KEY",
                "key",
                "MINIO_SECRET_KEY",
                "secret",
                "MINIO_CA_CERTS",
                "/nonexistent/ca.pem",
                "API_PORT",
                "0")),
        "configuration error: MINIO_CA_CERTS=/nonexistent/ca.pem cannot be used");
    assertOneLine(
        start(Map.of("DATA_DIR", "/proc/kcr-data", "API_PORT", "0")),
        "configuration error: DATA_DIR=/proc/kcr-data is not a writable directory");
  }

  @Test
  void aPortInUseIsOneLineNamingIt() throws IOException, InterruptedException {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      int port = taken.getLocalPort();
      assertOneLine(
          start(Map.of("API_PORT", Integer.toString(port))),
          "configuration error: API_HOST=127.0.0.1 API_PORT=" + port + ": cannot listen there");
    }
  }
}
