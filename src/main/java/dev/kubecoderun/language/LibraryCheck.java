package dev.kubecoderun.language;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A program per language that uses every listed library: it prints {@link #OK} alone, or one line
 * per library that is missing, broken or (Python, npm) not at its locked version. Sent as user code
 * to a sandbox (a local one in the tests, an image's) it shows the sandbox has what {@code GET
 * /languages} promises. TypeScript's also fails to compile when tsc cannot find a library's types.
 *
 * <p>{@code java -cp <jar and libs> dev.kubecoderun.language.LibraryCheck LANG} prints the program
 * of one language, for scripts.
 */
public final class LibraryCheck {
  public static final String OK = "ok";

  private LibraryCheck() {}

  /** The program for a language, or empty when it has no libraries beyond the standard one. */
  public static Optional<String> program(Language language, List<Libraries.Library> libraries) {
    if (libraries.isEmpty()) {
      return Optional.empty();
    }
    List<String> use = new ArrayList<>();
    List<List<String>> versions = new ArrayList<>();
    for (Libraries.Library l : libraries) {
      use.addAll(l.use());
      if (l.version() != null) {
        versions.add(List.of(l.name(), l.version()));
      }
    }
    return Optional.ofNullable(
        switch (language) {
          case PY -> python(use, versions);
          case JS -> javascript(versions);
          case TS -> typescript(use);
          case R -> r(use);
          case PHP -> php(use);
          case CPP -> cpp(use);
          case BASH -> bash(use);
          default -> null;
        });
  }

  private static String python(List<String> modules, List<List<String>> versions) {
    return """
        import importlib, importlib.metadata
        failed = []
        for module in %s:
            try:
                importlib.import_module(module)
            except Exception as e:
                failed.append(f"import {module}: {type(e).__name__}: {e}")
        for dist, want in %s:
            try:
                got = importlib.metadata.version(dist)
            except importlib.metadata.PackageNotFoundError:
                got = None
            if got != want:
                failed.append(f"{dist}: version {got}, want {want}")
        print("\\n".join(failed) or "ok")
        """
        .formatted(json(modules), json(versions));
  }

  /**
   * Each package is required (CommonJS, found on NODE_PATH) and imported (ES modules, found only in
   * a node_modules folder above the code): user code does either.
   */
  private static String javascript(List<List<String>> versions) {
    return """
        const fs = require("fs");
        const path = require("path");
        const firstLine = (e) => String(e.message).split("\\n")[0];
        (async () => {
          const failed = [];
          for (const [name, want] of %s) {
            try {
              require(name);
            } catch (e) {
              failed.push(`require ${name}: ${firstLine(e)}`);
              continue;
            }
            try {
              await import(name);
            } catch (e) {
              failed.push(`import ${name}: ${firstLine(e)}`);
            }
            const file = (process.env.NODE_PATH || "").split(path.delimiter).filter(Boolean)
              .map((d) => path.join(d, name, "package.json")).find((f) => fs.existsSync(f));
            const got = file ? JSON.parse(fs.readFileSync(file, "utf8")).version : undefined;
            if (got !== want) failed.push(`${name}: version ${got}, want ${want}`);
          }
          console.log(failed.length ? failed.join("\\n") : "ok");
        })();
        """
        .formatted(json(versions));
  }

  /**
   * tsc treats a package without types as {@code any}, where every member exists: the expected
   * error of a made-up member is then missing, and tsc fails with TS2578 on that package's line.
   */
  private static String typescript(List<String> packages) {
    StringBuilder imports = new StringBuilder();
    StringBuilder typed = new StringBuilder();
    List<String> names = new ArrayList<>();
    for (int i = 0; i < packages.size(); i++) {
      imports.append("import * as lib%d from %s;\n".formatted(i, json(packages.get(i))));
      typed.append("// @ts-expect-error: %s has types\n".formatted(packages.get(i)));
      typed.append("lib%d.kcrNoSuchMember;\n".formatted(i));
      names.add("lib" + i);
    }
    return imports.toString()
        + typed
        + "const loaded = [%s].filter((m) => m !== undefined && m !== null).length;\n"
            .formatted(String.join(", ", names))
        + "console.log(loaded === %d ? \"ok\" : `loaded ${loaded} of %d`);\n"
            .formatted(names.size(), names.size());
  }

  private static String r(List<String> packages) {
    StringBuilder c = new StringBuilder();
    for (String p : packages) {
      c.append(c.isEmpty() ? "" : ", ").append(json(p));
    }
    return """
        failed <- character(0)
        for (p in c(%s)) {
          tryCatch(suppressPackageStartupMessages(library(p, character.only = TRUE)),
                   error = function(e) failed <<- c(failed, paste0("library(", p, "): ", conditionMessage(e))))
        }
        cat(if (length(failed)) paste(failed, collapse = "\\n") else "ok", "\\n", sep = "")
        """
        .formatted(c);
  }

  private static String php(List<String> extensions) {
    return """
        <?php
        $failed = [];
        foreach (%s as $ext) {
          if (!extension_loaded($ext)) {
            $failed[] = "extension $ext: not loaded";
          }
        }
        echo $failed ? implode("\\n", $failed) : "ok", "\\n";
        """
        .formatted(json(extensions));
  }

  /** A missing header is a compile error naming it. */
  private static String cpp(List<String> headers) {
    StringBuilder c = new StringBuilder();
    for (String h : headers) {
      c.append("#include <").append(h).append(">\n");
    }
    return c + "#include <iostream>\nint main() { std::cout << \"ok\" << std::endl; }\n";
  }

  private static String bash(List<String> commands) {
    return """
        failed=()
        for c in %s; do
          command -v "$c" >/dev/null || failed+=("command $c: not found")
        done
        if [ ${#failed[@]} -eq 0 ]; then echo ok; else printf '%%s\\n' "${failed[@]}"; fi
        """
        .formatted(String.join(" ", commands));
  }

  private static String json(Object value) {
    try {
      return new ObjectMapper().writeValueAsString(value);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  public static void main(String[] args) {
    Language lang =
        args.length == 1
            ? Language.parse(args[0])
                .orElseThrow(() -> new IllegalArgumentException("unknown language " + args[0]))
            : null;
    if (lang == null) {
      System.err.println("usage: LibraryCheck LANG");
      System.exit(2);
    }
    System.out.print(program(lang, Libraries.bundled().of(lang)).orElse(""));
  }
}
