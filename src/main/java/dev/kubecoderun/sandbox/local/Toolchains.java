package dev.kubecoderun.sandbox.local;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;

/**
 * Finds the toolchain commands the runner calls ({@code RUNNER_TOOL_*}) and the host folders a
 * sandbox must see read-only for them to work. A toolchain outside the system folders (a rustup
 * toolchain under a home directory, say) is bound by its own path, never its whole home.
 */
public final class Toolchains {
  /** Folders every sandbox sees anyway (bound as a whole). */
  static final List<Path> SYSTEM_ROOTS = List.of(Path.of("/usr"), Path.of("/bin"), Path.of("/lib"));

  private final Map<String, String> tools;
  private final Set<Path> extraRoots;

  private Toolchains(Map<String, String> tools, Set<Path> extraRoots) {
    this.tools = tools;
    this.extraRoots = extraRoots;
  }

  /** The {@code RUNNER_TOOL_*} environment for runners. */
  public Map<String, String> runnerEnvironment() {
    Map<String, String> env = new LinkedHashMap<>();
    tools.forEach((k, v) -> env.put("RUNNER_TOOL_" + k, v));
    return env;
  }

  /** Host folders outside the system roots to bind read-only at the same path. */
  public Set<Path> extraRoots() {
    return extraRoots;
  }

  /**
   * @param path the PATH to look tools up in
   * @param overrides {@code RUNNER_TOOL_<NAME>} values from the configuration, keyed by NAME
   */
  public static Toolchains discover(String path, Map<String, String> overrides, Path toolsDir) {
    Map<String, String> tools = new LinkedHashMap<>();
    // The venv of the libraries user code can import (scripts/install.d/libs-python.sh), made with
    // Debian's python3; else Debian's python3 itself, never a PATH shim (pyenv).
    tools.put(
        "PYTHON",
        firstExisting(toolsDir.resolve("venv/bin/python3").toString())
            .or(() -> firstExisting("/usr/bin/python3"))
            .orElseGet(() -> which("python3", path)));
    tools.put("NODE", which("node", path));
    // The npm libraries' node_modules (scripts/install.d/libs-node.sh) holds the compiler too.
    tools.put("TSC", toolsDir.resolve("node/node_modules/typescript/lib/tsc.js").toString());
    tools.put("GO", which("go", path));
    Path javaHome = Path.of(System.getProperty("java.home"));
    tools.put("JAVA", javaHome.resolve("bin/java").toString());
    tools.put("JAVAC", javaHome.resolve("bin/javac").toString());
    tools.put("GCC", which("gcc", path));
    tools.put("GXX", which("g++", path));
    tools.put("PHP", which("php", path));
    tools.put("RUSTC", rustc(path));
    tools.put("RSCRIPT", which("Rscript", path));
    tools.put("GFORTRAN", which("gfortran", path));
    tools.put("LDC2", which("ldc2", path));
    tools.put("BASH", firstExisting("/bin/bash").orElseGet(() -> which("bash", path)));
    // Operators may point any tool elsewhere.
    overrides.forEach(tools::put);
    Set<Path> roots = new TreeSet<>();
    roots.add(toolsDir);
    for (String tool : tools.values()) {
      Path p = Path.of(tool);
      if (!p.isAbsolute()) {
        continue;
      }
      try {
        p = p.toRealPath();
      } catch (IOException e) {
        continue; // missing toolchain: the runner reports it when the language is used
      }
      if (!isUnderSystemRoot(p) && !p.startsWith(toolsDir)) {
        // .../<toolchain>/bin/<tool> -> bind <toolchain>
        Path bin = p.getParent();
        roots.add(bin.getParent() != null ? bin.getParent() : bin);
      }
    }
    return new Toolchains(tools, roots);
  }

  private static boolean isUnderSystemRoot(Path p) {
    return SYSTEM_ROOTS.stream().anyMatch(p::startsWith);
  }

  private static Optional<String> firstExisting(String candidate) {
    return Files.isExecutable(Path.of(candidate)) ? Optional.of(candidate) : Optional.empty();
  }

  static String which(String name, String path) {
    for (String dir : path.split(":")) {
      if (dir.isEmpty()) {
        continue;
      }
      Path p = Path.of(dir, name);
      if (Files.isExecutable(p)) {
        return p.toString();
      }
    }
    return name;
  }

  /** rustup installs a proxy binary; the sandbox needs the real toolchain's rustc. */
  private static String rustc(String path) {
    String rustc = which("rustc", path);
    try {
      Process p =
          new ProcessBuilder(rustc, "--print", "sysroot").redirectErrorStream(false).start();
      String sysroot = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
      if (p.waitFor(20, TimeUnit.SECONDS) && p.exitValue() == 0 && !sysroot.isEmpty()) {
        Path real = Path.of(sysroot, "bin", "rustc");
        if (Files.isExecutable(real)) {
          return real.toString();
        }
      }
    } catch (IOException e) {
      // no rustc: leave the name, the runner reports it
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    return rustc;
  }
}
