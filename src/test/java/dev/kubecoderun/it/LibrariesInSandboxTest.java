package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.language.Libraries;
import dev.kubecoderun.language.LibraryCheck;
import dev.kubecoderun.testing.Eventually;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The libraries of the lists in real local sandboxes: each loads, at its locked version, in the
 * interpreter user code gets (the warm one included); user code cannot change them; GET /languages
 * says what the sandboxes run.
 */
@Tag("integration")
class LibrariesInSandboxTest {
  private static final Libraries LIBRARIES = Libraries.bundled();
  private static final String VENV = "/opt/kubecoderun/venv";

  /** Five times the usual: before the test server's 20 s limit kills the run. */
  private static final Duration SLOW = Duration.ofSeconds(15);

  private final TestServer server = TestServer.get();

  static Stream<Language> languagesWithLibraries() {
    return Stream.of(Language.values()).filter(l -> !LIBRARIES.of(l).isEmpty());
  }

  @ParameterizedTest
  @MethodSource("languagesWithLibraries")
  void everyListedLibraryLoadsInASandbox(Language lang) {
    String program = LibraryCheck.program(lang, LIBRARIES.of(lang)).orElseThrow();
    // A js run here once timed out (20 s, nothing printed; 3 s as a rule) and could not be made to
    // again: should a run take that long, what its processes were doing goes into the message.
    AtomicReference<String> slow = new AtomicReference<>("");
    Thread watch =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    Thread.sleep(SLOW.toMillis());
                    slow.set(
                        "\nsandbox processes after " + SLOW + ":\n" + SandboxProcesses.describe());
                  } catch (InterruptedException e) {
                    // The run ended in time.
                  }
                });
    JsonNode r;
    try {
      r = server.exec(lang.code(), program).json();
    } finally {
      watch.interrupt();
    }
    assertEquals(
        LibraryCheck.OK + "\n",
        r.path("stdout").asText(),
        () ->
            lang.code()
                + ": "
                + r.path("stdout").asText()
                + r.path("stderr").asText()
                + "\nprogram (a compile error names its line):\n"
                + numbered(program)
                + slow.get());
    assertEquals("ok", r.path("status").asText(), r::toString);
    assertEquals("", r.path("stderr").asText(), "no warnings either: users would see them");
  }

  private static String numbered(String program) {
    StringBuilder b = new StringBuilder();
    String[] lines = program.split("\n");
    for (int i = 0; i < lines.length; i++) {
      b.append(i + 1).append(": ").append(lines[i]).append('\n');
    }
    return b.toString();
  }

  /** The warm interpreter pre-imports numpy from the venv, not from anywhere else. */
  @Test
  void theWarmPythonImportsFromTheVenv() throws InterruptedException {
    Eventually.await(
        "a warm py sandbox",
        Duration.ofSeconds(30),
        () -> server.app.pool().readyCount(Language.PY) >= 1);
    JsonNode r =
        server
            .exec(
                "py",
                "import sys\n"
                    + "print('numpy' in sys.modules)\n"
                    + "import numpy, sklearn\n"
                    + "print(sys.prefix)\n"
                    + "print(numpy.__file__.startswith(sys.prefix + '/'))\n"
                    + "print(sklearn.__file__.startswith(sys.prefix + '/'))\n")
            .json();
    assertEquals("True\n" + VENV + "\nTrue\nTrue\n", r.path("stdout").asText(), r::toString);
  }

  /** Read-only binds: neither the venv nor node_modules can be changed, even by replacing files. */
  @Test
  void userCodeCannotChangeTheLibraries() {
    String code =
        """
        import errno, os, sys, sysconfig, numpy
        site = sysconfig.get_paths()["purelib"]
        node = os.environ["NODE_PATH"].split(":")[0]
        attempts = [
            ("new module", lambda: open(os.path.join(site, "evil.py"), "w")),
            ("append to numpy", lambda: open(numpy.__file__, "a")),
            ("remove a numpy file", lambda: os.remove(os.path.join(os.path.dirname(numpy.__file__), "version.py"))),
            ("replace the venv link", lambda: os.rename(sys.prefix, sys.prefix + ".old")),
            ("new npm package", lambda: os.mkdir(os.path.join(node, "evil"))),
            ("append to lodash", lambda: open(os.path.join(node, "lodash", "lodash.js"), "a")),
            ("chmod lodash", lambda: os.chmod(os.path.join(node, "lodash", "lodash.js"), 0o777)),
        ]
        for what, attempt in attempts:
            try:
                attempt()
                print(what, "WRITABLE")
            except OSError as e:
                print(what, errno.errorcode[e.errno])
        """;
    JsonNode r = server.exec("py", code).json();
    List<String> lines = List.of(r.path("stdout").asText().strip().split("\n"));
    assertEquals(7, lines.size(), r::toString);
    // Read-only mounts (EROFS), and files that are not the sandbox user's (EACCES: on the local
    // backend sandboxes run as an unprivileged uid of their own, checked before the mount).
    for (String line : lines) {
      assertTrue(line.endsWith(" EROFS") || line.endsWith(" EACCES"), () -> line + "\n" + r);
    }
  }

  @Test
  void languagesSaysWhatTheSandboxesRun() {
    TestServer.Reply reply = server.get("/v1/languages");
    assertEquals(200, reply.status(), reply.body());
    assertEquals(reply.json(), server.get("/languages").json(), "the same at the root");
    Map<String, JsonNode> byCode = new HashMap<>();
    for (JsonNode l : reply.json().path("languages")) {
      byCode.put(l.path("language").asText(), l);
    }
    assertEquals(Language.values().length, byCode.size(), reply.body());
    for (Language l : Language.values()) {
      JsonNode entry = byCode.get(l.code());
      assertNotNull(entry, l.code());
      assertTrue(entry.path("version").isTextual(), () -> l.code() + " has no version: " + entry);
      assertEquals(LIBRARIES.of(l).size(), entry.path("libraries").size(), l.code());
      for (JsonNode lib : entry.path("libraries")) {
        assertTrue(lib.path("version").isTextual(), () -> l.code() + ": not installed: " + lib);
      }
    }
    // Python: the sandbox's interpreter, and the locked versions.
    String pyVersion =
        server
            .exec("py", "import platform; print(platform.python_version())")
            .json()
            .path("stdout")
            .asText()
            .strip();
    assertEquals(pyVersion, byCode.get("py").path("version").asText());
    for (Language l : List.of(Language.PY, Language.JS)) {
      JsonNode libs = byCode.get(l.code()).path("libraries");
      for (int i = 0; i < libs.size(); i++) {
        Libraries.Library want = LIBRARIES.of(l).get(i);
        assertEquals(want.name(), libs.get(i).path("name").asText());
        assertEquals(want.version(), libs.get(i).path("version").asText(), want.name());
        assertEquals(want.use().get(0), libs.get(i).path("use").get(0).asText());
      }
    }

    TestServer.Reply post = server.postJson("/v1/languages", "{}");
    assertEquals(405, post.status(), post.body());
    assertEquals("GET", post.header("Allow"));

    TestServer.Reply anonymous =
        server.send(HttpRequest.newBuilder(server.base.resolve("/v1/languages")).GET());
    assertEquals(401, anonymous.status(), "an API key is needed, as on every route but health");
    assertTrue(anonymous.json().has("error_type"), anonymous.body());
  }
}
