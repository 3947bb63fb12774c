package dev.kubecoderun.kube;

import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.util.Config;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The test control plane (scripts/kube-up: etcd, kube-apiserver with RBAC, controller-manager and
 * the test kubelet running pods from the unpacked images of scripts/build-images). KCR_KUBECONFIG
 * reuses a running one; otherwise one is started in a temp dir and stopped at the end. Failing to
 * start fails the tests.
 */
public final class TestCluster {
  private static TestCluster instance;

  public final Path kubeconfig;
  final String server;
  final Path caFile;

  /** The test kubelet's node, where every pod runs (no scheduler: the kubelet binds them). */
  final String node;

  public final ApiClient admin;
  private final Path ownState;

  private TestCluster(Path kubeconfig, Path ownState) throws IOException {
    this.kubeconfig = kubeconfig;
    this.ownState = ownState;
    Map<String, String> env = readEnv(kubeconfig.getParent().resolve("env"));
    this.server = env.get("KCR_KUBE_SERVER");
    this.caFile = Path.of(env.get("KCR_KUBE_CA_FILE"));
    this.node = env.get("KCR_KUBE_NODE");
    this.admin = Config.fromConfig(kubeconfig.toString());
  }

  public static synchronized TestCluster get() throws IOException, InterruptedException {
    if (instance == null) {
      String given = System.getenv("KCR_KUBECONFIG");
      if (given != null && !given.isBlank()) {
        instance = new TestCluster(Path.of(given), null);
      } else {
        Path state = Files.createTempDirectory("kcr-kube-java-");
        Path kubeconfig = Path.of(script("kube-up", state).trim());
        instance = new TestCluster(kubeconfig, state);
        Runtime.getRuntime().addShutdownHook(new Thread(instance::down));
      }
    }
    return instance;
  }

  private void down() {
    try {
      script("kube-down", ownState);
    } catch (IOException | InterruptedException e) {
      System.err.println("kube-down: " + e);
    }
  }

  /**
   * Stops one daemon (etcd, kube-apiserver, kube-controller-manager), keeps it down for {@code
   * downSeconds}, starts it again and waits until the API server is ready.
   */
  void restart(String daemon, int downSeconds) throws IOException, InterruptedException {
    script("kube-restart", kubeconfig.getParent(), daemon, Integer.toString(downSeconds));
  }

  private static String script(String name, Path state, String... args)
      throws IOException, InterruptedException {
    Path root = Path.of("").toAbsolutePath();
    java.util.List<String> command = new java.util.ArrayList<>();
    command.add(root.resolve("scripts").resolve(name).toString());
    command.addAll(java.util.List.of(args));
    ProcessBuilder pb = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT);
    pb.environment().put("KCR_KUBE_STATE", state.toString());
    pb.environment()
        .putIfAbsent("KCR_RUNNER_BIN", root.resolve("target/runner").toAbsolutePath().toString());
    Process p = pb.start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IllegalStateException(name + " failed (exit " + p.exitValue() + "): " + out);
    }
    return out;
  }

  private static Map<String, String> readEnv(Path file) throws IOException {
    Map<String, String> out = new HashMap<>();
    for (String line : Files.readAllLines(file)) {
      int eq = line.indexOf('=');
      if (eq > 0) {
        out.put(line.substring(0, eq), line.substring(eq + 1));
      }
    }
    return out;
  }
}
