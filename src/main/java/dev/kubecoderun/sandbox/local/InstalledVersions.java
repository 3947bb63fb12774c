package dev.kubecoderun.sandbox.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.language.LanguageCatalog;
import dev.kubecoderun.language.Libraries;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The versions of the toolchains and libraries the local sandboxes run: the same binaries, asked on
 * the host (a dozen short commands, in parallel) or read from their package files.
 */
public final class InstalledVersions {
  private static final Pattern VERSION = Pattern.compile("\\d+(\\.\\d+)+");
  private static final long TIMEOUT_SECONDS = 10;

  private InstalledVersions() {}

  public static LanguageCatalog.Installed detect(Toolchains toolchains, Libraries libraries) {
    Map<String, String> env = toolchains.runnerEnvironment();
    Map<Language, String> languages = new ConcurrentHashMap<>();
    Map<Libraries.Source, Map<String, String>> libs = new ConcurrentHashMap<>();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (Language l : Language.values()) {
        pool.submit(() -> languageVersion(l, env).ifPresent(v -> languages.put(l, v)));
      }
      pool.submit(() -> libs.put(Libraries.Source.PYPI, python(env.get("RUNNER_TOOL_PYTHON"))));
      pool.submit(() -> libs.put(Libraries.Source.NPM, npm(env.get("RUNNER_TOOL_TSC"), libraries)));
      pool.submit(() -> libs.put(Libraries.Source.DEBIAN, debian(libraries)));
    }
    return new LanguageCatalog.Installed(new EnumMap<>(languages), new HashMap<>(libs));
  }

  private static Optional<String> languageVersion(Language l, Map<String, String> env) {
    String tool = env.get("RUNNER_TOOL_" + toolOf(l));
    if (tool == null) {
      return Optional.empty();
    }
    return switch (l) {
      case TS -> typescriptVersion(tool);
      case JAVA -> releaseVersion(tool);
      case GO -> firstVersion(run(tool, "env", "GOVERSION"));
      case C, CPP, F90 -> firstVersion(run(tool, "-dumpfullversion"));
      case BASH -> firstVersion(run(tool, "-c", "echo $BASH_VERSION"));
      default -> firstVersion(run(tool, "--version"));
    };
  }

  private static String toolOf(Language l) {
    return switch (l) {
      case PY -> "PYTHON";
      case JS -> "NODE";
      case TS -> "TSC";
      case GO -> "GO";
      case JAVA -> "JAVA";
      case C -> "GCC";
      case CPP -> "GXX";
      case PHP -> "PHP";
      case RS -> "RUSTC";
      case R -> "RSCRIPT";
      case F90 -> "GFORTRAN";
      case D -> "LDC2";
      case BASH -> "BASH";
    };
  }

  /** tsc.js sits in typescript/lib/; the package's version is in typescript/package.json. */
  private static Optional<String> typescriptVersion(String tscJs) {
    return packageVersion(Path.of(tscJs).getParent().getParent().resolve("package.json"));
  }

  /** A JDK's release file says its version: no JVM to start. */
  private static Optional<String> releaseVersion(String java) {
    try {
      Path release = Path.of(java).toRealPath().getParent().getParent().resolve("release");
      for (String line : Files.readAllLines(release)) {
        if (line.startsWith("JAVA_VERSION=")) {
          return firstVersion(line);
        }
      }
    } catch (IOException e) {
      // no release file: unknown
    }
    return Optional.empty();
  }

  /** Every installed distribution of the interpreter the sandboxes run, by normalised name. */
  private static Map<String, String> python(String python) {
    Map<String, String> out = new HashMap<>();
    if (python == null) {
      return out;
    }
    String json =
        run(
            python,
            "-c",
            "import importlib.metadata as m, json;"
                + " print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))");
    try {
      JsonNode tree = new ObjectMapper().readTree(json.isBlank() ? "{}" : json);
      for (Map.Entry<String, JsonNode> e : tree.properties()) {
        out.put(Libraries.normalizePython(e.getKey()), e.getValue().asText());
      }
    } catch (IOException e) {
      // not JSON (the interpreter failed): nothing found
    }
    return out;
  }

  /** The package.json of each listed package in the node_modules that holds the compiler. */
  private static Map<String, String> npm(String tscJs, Libraries libraries) {
    Map<String, String> out = new HashMap<>();
    if (tscJs == null) {
      return out;
    }
    Path nodeModules = Path.of(tscJs).getParent().getParent().getParent();
    for (Libraries.Library lib : libraries.of(Language.JS)) {
      packageVersion(nodeModules.resolve(lib.name()).resolve("package.json"))
          .ifPresent(v -> out.put(lib.name(), v));
    }
    return out;
  }

  private static Optional<String> packageVersion(Path packageJson) {
    try {
      return Optional.ofNullable(
          new ObjectMapper().readTree(packageJson.toFile()).path("version").asText(null));
    } catch (IOException e) {
      return Optional.empty();
    }
  }

  /** dpkg's versions of the listed Debian packages (one dpkg-query for all). */
  private static Map<String, String> debian(Libraries libraries) {
    List<String> cmd = new ArrayList<>(List.of("dpkg-query", "-W", "-f=${Package}\t${Version}\n"));
    for (Language l : Language.values()) {
      for (Libraries.Library lib : libraries.of(l)) {
        if (lib.source() == Libraries.Source.DEBIAN) {
          cmd.add(lib.name());
        }
      }
    }
    Map<String, String> out = new HashMap<>();
    for (String line : run(cmd.toArray(String[]::new)).split("\n")) {
      String[] f = line.split("\t");
      if (f.length == 2 && !f[1].isBlank()) {
        out.put(f[0], f[1]);
      }
    }
    return out;
  }

  private static Optional<String> firstVersion(String text) {
    Matcher m = VERSION.matcher(text);
    return m.find() ? Optional.of(m.group()) : Optional.empty();
  }

  /**
   * stdout and stderr of a short command with little output (less than a pipe holds), "" when it
   * cannot run or takes too long. The API's environment (its keys) is not passed on.
   */
  private static String run(String... cmd) {
    try {
      ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
      pb.environment().clear();
      pb.environment().put("PATH", "/usr/local/bin:/usr/bin:/bin");
      pb.environment().put("LANG", "C.UTF-8");
      Process p = pb.start();
      p.getOutputStream().close();
      if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        return "";
      }
      return new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      return "";
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return "";
    }
  }
}
