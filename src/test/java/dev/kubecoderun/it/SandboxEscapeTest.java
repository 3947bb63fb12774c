package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** User code tries to leave its sandbox; every attempt must fail. */
@Tag("integration")
class SandboxEscapeTest {
  private final TestServer server = TestServer.get();

  private String run(String code) {
    JsonNode r = server.exec("py", code).json();
    return r.path("stdout").asText() + r.path("stderr").asText();
  }

  private static String attempt(String action) {
    return "try:\n    "
        + action
        + "\n    print('ESCAPED')\nexcept Exception as e:\n    print('blocked', type(e).__name__)\n";
  }

  @Test
  void cannotConnectToTheApiOrAnythingElse() {
    String out =
        run(
            attempt(
                "import socket; socket.create_connection(('127.0.0.1', "
                    + server.base.getPort()
                    + "), timeout=3)"));
    assertEquals("blocked", out.split(" ")[0], out);
    out = run(attempt("import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)"));
    assertEquals("blocked", out.split(" ")[0], out);
  }

  @Test
  void cannotReadTheApiDataDirOrHostSecrets() {
    String out = run(attempt("import os; print(os.listdir('" + server.dataDir + "'))"));
    assertEquals("blocked", out.split(" ")[0], out);
    out = run(attempt("open('/etc/shadow').read()"));
    assertEquals("blocked", out.split(" ")[0], out);
    // A toolchain under a home directory is bound by its own path; nothing else of the home is.
    out = run("import os\nprint(os.path.exists('/root/.bashrc'), os.path.exists('/root/.cargo'))");
    assertEquals("False False\n", out);
  }

  @Test
  void cannotWriteOutsideItsOwnFolders() {
    for (String path :
        new String[] {
          "/usr/evil", "/etc/evil", "/evil", "/usr/lib/evil", "/root/evil", "/home/evil"
        }) {
      String out = run(attempt("open('" + path + "', 'w').write('x')"));
      assertEquals("blocked", out.split(" ")[0], path + ": " + out);
    }
  }

  @Test
  void itsOwnFoldersAreWritable() {
    String out =
        run(
            "open('/mnt/data/a', 'w').write('1')\nopen('/tmp/b', 'w').write('2')\nimport tempfile\n"
                + "tempfile.TemporaryFile().write(b'3')\nprint('ok')");
    assertEquals("ok\n", out);
  }

  @Test
  void aForkBombIsContained() {
    JsonNode r =
        server.exec("bash", "bomb() { bomb | bomb & }; bomb; sleep 2; echo survived").json();
    org.junit.jupiter.api.Assertions.assertTrue(
        r.path("stderr").asText().contains("fork")
            || r.path("stderr").asText().contains("Resource"),
        r.toString());
    // The service still runs code afterwards.
    assertEquals("fine\n", server.exec("py", "print('fine')").json().path("stdout").asText());
  }

  @Test
  void runsAsTheUnprivilegedSandboxUserWithItsOwnPidNamespace() {
    String out =
        run(
            "import os\nprint(os.getuid(), os.getgid())\nprint(len([p for p in os.listdir('/proc') if p.isdigit()]) < 20)");
    assertEquals("65532 65532\nTrue\n", out);
  }
}
