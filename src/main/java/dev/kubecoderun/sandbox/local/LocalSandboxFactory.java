package dev.kubecoderun.sandbox.local;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.files.LocalDisk;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.RunnerSettings;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.sandbox.SandboxFactory;
import dev.kubecoderun.session.Ids;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * Local backend: each sandbox is a runner process on its own loopback port with its own token and
 * folder; the runner starts every child inside bubblewrap.
 */
public final class LocalSandboxFactory implements SandboxFactory {
  private static final Logger LOG = Logger.getLogger(LocalSandboxFactory.class.getName());
  private static final SecureRandom RANDOM = new SecureRandom();

  /**
   * What only the local backend needs: the runner binary, where sandboxes live, the bubblewrap
   * command, and the memory limit of each sandbox (0 = none).
   */
  public record Settings(Path runnerBinary, Path sandboxesDir, String bwrap, long maxMemoryBytes) {}

  private final Settings settings;
  private final RunnerSettings runnerSettings;
  private final Toolchains toolchains;
  private final WebClient http;
  private final Path passwd;
  private final Path group;
  private final java.util.Set<LocalSandbox> live =
      java.util.concurrent.ConcurrentHashMap.newKeySet();

  public LocalSandboxFactory(
      Settings settings, RunnerSettings runnerSettings, Toolchains toolchains, WebClient http) {
    this.settings = settings;
    this.runnerSettings = runnerSettings;
    this.toolchains = toolchains;
    this.http = http;
    if (!Files.isExecutable(settings.runnerBinary())) {
      throw new ConfigException(
          "RUNNER_BIN="
              + settings.runnerBinary()
              + " is not an executable file (scripts/build builds target/runner)");
    }
    requireBubblewrap(settings.bwrap());
    removeLeftovers(settings.sandboxesDir());
    // The sandbox user's passwd/group, instead of the host's.
    Path etc = settings.sandboxesDir().resolve(".etc");
    passwd = etc.resolve("passwd");
    group = etc.resolve("group");
    LocalDisk.write(
        passwd,
        ("root:x:0:0:root:/root:/bin/sh\nsandbox:x:65532:65532:sandbox:/tmp:/bin/sh\n"
                + "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
            .getBytes(StandardCharsets.UTF_8));
    LocalDisk.write(
        group, "root:x:0:\nsandbox:x:65532:\nnogroup:x:65534:\n".getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public String name() {
    return "local";
  }

  /** Destroys every sandbox still alive (the pool hands back the ones it knows of first). */
  @Override
  public void close() {
    List<LocalSandbox> left = List.copyOf(live);
    left.parallelStream().forEach(LocalSandbox::close);
  }

  @Override
  public Sandbox create(Language language, boolean warm) throws SandboxException {
    String id = Ids.next();
    Path dir = settings.sandboxesDir().resolve(id);
    Path work = dir.resolve("data");
    Path scratch = dir.resolve("tmp");
    Process process = null;
    try {
      Files.createDirectories(work);
      Files.createDirectories(scratch);
      int port = freePort();
      String token = HexFormat.of().formatHex(randomBytes(24));
      String warmLanguage = warm && language.warm() ? language.code() : "";
      List<String> wrap =
          BubblewrapCommand.build(
              settings.bwrap(), work, scratch, passwd, group, toolchains.extraRoots());
      List<String> cmd = new ArrayList<>();
      cmd.add(settings.runnerBinary().toString());
      add(cmd, "--listen", "127.0.0.1:" + port);
      add(cmd, "--workdir", work.toString(), "--scratch", scratch.toString());
      add(cmd, "--child-workdir", BubblewrapCommand.SANDBOX_WORKDIR);
      add(cmd, "--child-scratch", BubblewrapCommand.SANDBOX_SCRATCH);
      add(cmd, "--warm", warmLanguage);
      // One execution per sandbox: the runner must not warm a second interpreter after it.
      cmd.add("--single-use");
      // bubblewrap gives children uid 65532 in their own user namespace; bwrap itself must keep
      // the API's uid to read the toolchains it binds.
      add(cmd, "--child-uid", "-1");
      add(cmd, "--wrap", Json.writeString(wrap));
      if (settings.maxMemoryBytes() > 0) {
        // All of the sandbox's processes together, warm interpreter included (a memory cgroup).
        add(cmd, "--max-memory", Long.toString(settings.maxMemoryBytes()));
      }
      ProcessBuilder pb = new ProcessBuilder(cmd);
      Map<String, String> env = pb.environment();
      env.clear();
      env.put("PATH", "/usr/local/bin:/usr/bin:/bin");
      env.put("RUNNER_TOKEN", token);
      env.putAll(runnerSettings.environment());
      env.putAll(toolchains.runnerEnvironment());
      pb.redirectErrorStream(true);
      pb.redirectOutput(dir.resolve("runner.log").toFile());
      process = pb.start();
      Files.writeString(dir.resolve("runner.pid"), Long.toString(process.pid()));
      RunnerClient client = new RunnerClient(http, URI.create("http://127.0.0.1:" + port), token);
      awaitHealthy(process, client, warmLanguage.isEmpty() ? null : warmLanguage, dir);
      LocalSandbox sandbox = new LocalSandbox(id, language, process, client, dir, live::remove);
      live.add(sandbox);
      return sandbox;
    } catch (IOException | RuntimeException | SandboxException e) {
      if (process != null) {
        LocalSandbox.kill(process);
      }
      LocalDisk.deleteTree(dir);
      if (e instanceof SandboxException se) {
        throw se;
      }
      throw new SandboxException("cannot start a local sandbox: " + e.getMessage(), e);
    }
  }

  private void awaitHealthy(Process process, RunnerClient client, String warm, Path dir)
      throws SandboxException {
    long deadline = System.nanoTime() + runnerSettings.startTimeout().toNanos();
    long sleepMs = 2;
    while (System.nanoTime() < deadline) {
      if (!process.isAlive()) {
        throw new SandboxException("runner exited at start: " + tail(dir.resolve("runner.log")));
      }
      if (client.healthy(warm)) {
        return;
      }
      try {
        Thread.sleep(sleepMs);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SandboxException("interrupted while starting a sandbox");
      }
      sleepMs = Math.min(sleepMs * 2, 50);
    }
    throw new SandboxException(
        "runner not ready within " + runnerSettings.startTimeout().toSeconds() + " s");
  }

  private static String tail(Path log) {
    try {
      String s = Files.readString(log);
      return s.length() > 2000 ? s.substring(s.length() - 2000) : s;
    } catch (IOException e) {
      return "(no log)";
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static byte[] randomBytes(int n) {
    byte[] b = new byte[n];
    RANDOM.nextBytes(b);
    return b;
  }

  private static void add(List<String> cmd, String... args) {
    cmd.addAll(List.of(args));
  }

  /** bubblewrap is the sandbox: without it the local backend refuses to start. */
  private static void requireBubblewrap(String bwrap) {
    try {
      Process p =
          new ProcessBuilder(
                  bwrap,
                  "--unshare-all",
                  "--ro-bind",
                  "/usr",
                  "/usr",
                  "--symlink",
                  "usr/lib",
                  "/lib",
                  "--symlink",
                  "usr/lib64",
                  "/lib64",
                  "/usr/bin/true")
              .redirectErrorStream(true)
              .start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      if (p.waitFor() != 0) {
        throw new IllegalStateException(
            "bubblewrap (" + bwrap + ") cannot create a sandbox here: " + out.trim());
      }
    } catch (IOException e) {
      throw new IllegalStateException(
          "bubblewrap not found ("
              + bwrap
              + "): the local backend needs it (Debian/Ubuntu: apt-get install bubblewrap)",
          e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** Runners left by a crashed API: kill them and remove their folders. */
  private static void removeLeftovers(Path sandboxesDir) {
    if (!Files.isDirectory(sandboxesDir)) {
      return;
    }
    try (var dirs = Files.list(sandboxesDir)) {
      for (Path d : dirs.toList()) {
        Path pidFile = d.resolve("runner.pid");
        if (Files.exists(pidFile)) {
          try {
            long pid = Long.parseLong(Files.readString(pidFile).trim());
            ProcessHandle.of(pid)
                .filter(h -> h.info().command().map(c -> c.endsWith("runner")).orElse(false))
                .ifPresent(
                    h -> {
                      LOG.info("killing leftover runner pid " + pid);
                      h.descendants().forEach(ProcessHandle::destroyForcibly);
                      h.destroyForcibly();
                    });
          } catch (IOException | NumberFormatException e) {
            // unreadable pid file: just remove the folder
          }
        }
        if (!d.getFileName().toString().equals(".etc")) {
          LocalDisk.deleteTree(d);
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
