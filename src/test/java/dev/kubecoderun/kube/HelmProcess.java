package dev.kubecoderun.kube;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * Runs a helm-java main class (chart package) in a JVM of its own whose KUBECONFIG is the test
 * cluster's: Helm's Go code reads the environment it starts with, and its home, cache and config
 * stay in {@code work}, away from the machine's.
 */
final class HelmProcess {
  private HelmProcess() {}

  static void run(Class<?> mainClass, Path kubeconfig, Path work, String... args)
      throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.add("--enable-native-access=ALL-UNNAMED");
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(mainClass.getName());
    command.addAll(List.of(args));
    Path log = Files.createTempFile(work, "helm-", ".log");
    ProcessBuilder pb =
        new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
    Map<String, String> env = pb.environment();
    env.keySet().removeIf(k -> k.startsWith("KUBERNETES_") || k.startsWith("HELM_"));
    env.put("KUBECONFIG", kubeconfig.toString());
    env.put("HOME", work.toString());
    env.put("XDG_CACHE_HOME", work.resolve("cache").toString());
    env.put("XDG_CONFIG_HOME", work.resolve("config").toString());
    env.put("XDG_DATA_HOME", work.resolve("data").toString());
    Process p = pb.start();
    boolean done = p.waitFor(180, TimeUnit.SECONDS);
    if (!done) {
      p.destroyForcibly();
    }
    assertTrue(done, () -> mainClass.getSimpleName() + " took over 180 s: " + read(log));
  }

  static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      return "";
    }
  }
}
