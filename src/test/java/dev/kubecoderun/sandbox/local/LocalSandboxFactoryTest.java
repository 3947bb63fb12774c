package dev.kubecoderun.sandbox.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.sandbox.RunnerSettings;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The local backend refuses to start, with the jail's own one-line reason, where it cannot jail; it
 * starts the jail with the sandboxes' limits.
 */
class LocalSandboxFactoryTest {
  @TempDir Path dir;

  @Test
  void aJailThatRefusesStopsTheBackendWithItsReason() throws IOException {
    // A stand-in for the runner: what `runner jail` prints and does on a host without cgroups.
    IllegalStateException e =
        startWithRunner(
            "echo 'runner jail: cannot jail sandboxes here: no usable cgroup pids controller"
                + " (a cgroup v1 hierarchy with it, or the cgroup v2 root delegating it)' >&2\n",
            1,
            4);
    assertEquals(
        "local sandboxes: no jail on this host: no usable cgroup pids controller (a cgroup v1"
            + " hierarchy with it, or the cgroup v2 root delegating it)",
        e.getMessage());
  }

  @Test
  void theJailIsToldTheSandboxesCpuLimitAndWeight() throws IOException {
    // A stand-in for the runner that refuses, naming what it was started with.
    IllegalStateException e =
        startWithRunner("echo \"runner jail: cannot jail sandboxes here: $*\" >&2\n", 0.5, 2.5);
    assertTrue(e.getMessage().contains(" --max-cpu 0.5 --cpu-weight 2.5 "), e.getMessage());
  }

  /**
   * Starts the backend with a stand-in runner (a shell script that ends with exit 2): its refusal.
   */
  private IllegalStateException startWithRunner(String script, double cpuLimit, double cpuWeight)
      throws IOException {
    Path runner = dir.resolve("runner");
    Files.writeString(runner, "#!/bin/sh\n" + script + "exit 2\n");
    Files.setPosixFilePermissions(runner, PosixFilePermissions.fromString("rwxr-xr-x"));
    LocalSandboxFactory.Settings settings =
        new LocalSandboxFactory.Settings(
            runner,
            dir.resolve("sandboxes"),
            0,
            new Config.Jail(1 << 30, 16384, 64 << 20, cpuLimit, cpuWeight, 1_500_000, 4096, true));
    RunnerSettings runnerSettings =
        new RunnerSettings(Duration.ofSeconds(5), 30_000, 1 << 20, 1 << 20, "");
    Toolchains toolchains = Toolchains.discover("/usr/bin:/bin", Map.of(), dir);
    return assertThrows(
        IllegalStateException.class,
        () ->
            new LocalSandboxFactory(
                settings, runnerSettings, toolchains, WebClient.builder().build()));
  }
}
