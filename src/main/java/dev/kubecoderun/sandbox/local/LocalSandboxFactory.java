package dev.kubecoderun.sandbox.local;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.RunnerSettings;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.sandbox.SandboxFactory;
import io.helidon.webclient.api.WebClient;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Local backend: one jail server ({@link JailServer}) serves every sandbox. Creating a sandbox is
 * one call to it (a tmpfs, cgroups, a host uid and a holder process of its own, milliseconds);
 * every run in it is forked from a template into the sandbox's jail.
 */
public final class LocalSandboxFactory implements SandboxFactory {
  /**
   * What only the local backend needs: the runner binary, the directory the jail mounts its tmpfs
   * at, the memory limit of each sandbox (0 = none) and the jail's other limits.
   */
  public record Settings(
      Path runnerBinary, Path sandboxesDir, long maxMemoryBytes, Config.Jail jail) {}

  private final JailServer jail;
  private final WebClient http;
  private final Set<LocalSandbox> live = ConcurrentHashMap.newKeySet();

  public LocalSandboxFactory(
      Settings settings, RunnerSettings runnerSettings, Toolchains toolchains, WebClient http) {
    if (!Files.isExecutable(settings.runnerBinary())) {
      throw new ConfigException(
          "RUNNER_BIN="
              + settings.runnerBinary()
              + " is not an executable file (scripts/build builds target/runner)");
    }
    this.http = http;
    this.jail = new JailServer(settings, runnerSettings, toolchains, http);
  }

  @Override
  public String name() {
    return "local";
  }

  @Override
  public Sandbox create(Language language, boolean warm) throws SandboxException {
    JailServer.Created created = jail.create(language, warm);
    RunnerClient client = new RunnerClient(http, created.instance().base(), created.token());
    LocalSandbox sandbox =
        new LocalSandbox(
            created,
            language,
            client,
            s -> {
              live.remove(s);
              // A run that left no file ended its single-use sandbox in the jail already.
              if (!client.sandboxEnded()) {
                jail.destroy(s.jail(), s.id());
              }
            });
    live.add(sandbox);
    return sandbox;
  }

  @Override
  public void stopping() {
    jail.stopping();
  }

  /** Destroys every sandbox still alive (the pool hands back the ones it knows of first). */
  @Override
  public void close() {
    List<LocalSandbox> left = List.copyOf(live);
    left.parallelStream().forEach(LocalSandbox::close);
    jail.close();
  }
}
