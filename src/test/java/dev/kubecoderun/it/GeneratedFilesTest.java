package dev.kubecoderun.it;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.ByteArrayOutputStream;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Files the code writes to /mnt/data come back whatever their name, size or number: returned, or
 * named in skipped_files with the reason; never a failed run (the local backend, real runners).
 */
@Tag("integration")
class GeneratedFilesTest {
  private final TestServer server = TestServer.get();

  /** {@code written}: the name's bytes as the code writes them; {@code returned}: the name back. */
  static Stream<Arguments> names() {
    String nested =
        // 8 levels, 1 001 bytes: within an input name's limits (1 024 bytes, 32 levels).
        String.join("/", java.util.Collections.nCopies(8, "d".repeat(123))) + "/deep file.txt";
    return Stream.of(
        same("a b.txt"),
        same("sales report.csv"),
        same("\u00e9.txt"),
        same("r\u00e9sum\u00e9.csv"),
        same("\u6570\u636e.csv"),
        same("a+b.txt"),
        same("a%20b.txt"),
        same("a#b.txt"),
        same("a?b.txt"),
        same("it's.txt"),
        same("a&b.txt"),
        same("q\"q.txt"),
        same("{x};y=z[1] (2).txt"),
        same("dir with space/sous-dossier \u00e9/deep.txt"),
        same("n".repeat(251) + ".txt"), // 255 bytes
        same("\u00e9".repeat(127) + "a"), // 255 bytes, 128 characters
        same(nested),
        Arguments.of("newline", utf8("new\nline.txt"), "new_line.txt"),
        Arguments.of("controls", utf8("tab\tand\u0001ctl\u007f.txt"), "tab_and_ctl_.txt"),
        Arguments.of("backslash", utf8("back\\slash.txt"), "back_slash.txt"),
        Arguments.of("bidi override", utf8("\u202etxt.exe"), "_txt.exe"),
        Arguments.of(
            "not UTF-8", "bad\u00ff\u00fe.txt".getBytes(ISO_8859_1), "bad\ufffd\ufffd.txt"));
  }

  private static Arguments same(String name) {
    return Arguments.of(
        name.length() > 40 ? name.substring(0, 40) + "..." : name, utf8(name), name);
  }

  private static byte[] utf8(String s) {
    return s.getBytes(UTF_8);
  }

  /** A Python bytes literal. */
  private static String py(byte[] b) {
    StringBuilder sb = new StringBuilder("b'");
    for (byte x : b) {
      sb.append(String.format("\\x%02x", x & 0xff));
    }
    return sb.append('\'').toString();
  }

  private static byte[] content(byte[] name) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(utf8("content of "));
    out.writeBytes(name);
    return out.toByteArray();
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("names")
  void aFileOfAnyNameComesBackAndGoesBackIntoTheNextRun(
      String label, byte[] written, String returned) {
    String code =
        "import os\np = "
            + py(written)
            + "\nos.makedirs(os.path.dirname(p) or b'.', exist_ok=True)\n"
            + "open(p, 'wb').write(b'content of ' + p)\n";
    TestServer.Reply reply = server.exec("py", code);
    assertEquals(200, reply.status(), reply.body());
    JsonNode run = reply.json();
    assertEquals(1, run.path("files").size(), run.toString());
    JsonNode file = run.path("files").get(0);
    assertEquals(returned, file.path("name").asText());
    assertTrue(run.path("skipped_files").isMissingNode(), run.toString());
    assertTrue(run.path("artifact_delivery").isMissingNode(), run.toString());
    String session = run.path("session_id").asText();
    String id = file.path("id").asText();

    TestServer.Reply download = server.get("/v1/download/" + session + "/" + id);
    assertEquals(200, download.status());
    assertArrayEquals(content(written), download.raw().body());

    // LibreChat sends the returned name back: the file is placed at that path, content intact.
    JsonNode next =
        server
            .exec(
                Map.of(
                    "lang",
                    "py",
                    "code",
                    "import sys\nsys.stdout.write(open("
                        + py(utf8(returned))
                        + ", 'rb').read().hex())",
                    "files",
                    List.of(Map.of("id", id, "storage_session_id", session, "name", returned))))
            .json();
    assertEquals(
        HexFormat.of().formatHex(content(written)) + "\n",
        next.path("stdout").asText(),
        next.toString());
    assertEquals(0, next.path("files").size(), "the unchanged input is not an output: " + next);
  }

  /**
   * A generated file's type comes from its name, and every listing says the type its download is
   * served with.
   */
  @Test
  void aGeneratedFileIsListedWithTheTypeItIsDownloadedAs() {
    Map<String, String> want =
        Map.of(
            "summary.csv", "text/csv",
            "notes.txt", "text/plain",
            "blob", "application/octet-stream");
    TestServer.Reply reply =
        server.exec(
            "py",
            "open('summary.csv', 'w').write('a,b\\n1,2\\n')\n"
                + "open('notes.txt', 'w').write('n')\n"
                + "open('blob', 'wb').write(bytes(8))\n");
    assertEquals(200, reply.status(), reply.body());
    JsonNode run = reply.json();
    assertEquals(want.size(), run.path("files").size(), run.toString());
    String session = run.path("session_id").asText();
    for (JsonNode f : run.path("files")) {
      String type = want.get(f.path("name").asText());
      String id = f.path("id").asText();
      TestServer.Reply download = server.get("/v1/download/" + session + "/" + id);
      assertEquals(200, download.status());
      assertEquals(type, download.header("Content-Type"), f.path("name").asText());
      JsonNode object = server.get("/v1/sessions/" + session + "/objects/" + id).json();
      assertEquals(type, object.path("contentType").asText(), object.toString());
    }
    JsonNode full = server.get("/v1/files/" + session).json();
    assertEquals(want.size(), full.size(), full.toString());
    for (JsonNode f : full) {
      String type = want.get(f.path("name").asText());
      assertEquals(type, f.path("contentType").asText(), f.toString());
      assertEquals(type, f.path("metadata").path("content-type").asText(), f.toString());
    }
    for (JsonNode f : server.get("/v1/files/" + session + "?detail=normalized").json()) {
      assertEquals(
          want.get(f.path("name").asText()), f.path("content_type").asText(), f.toString());
    }
  }

  @Test
  void manyFilesInNestedFoldersKeepTheFirstOnesAndNameTheRest() {
    // 30 files in 3 levels of folders with odd names; MAX_OUTPUT_FILES (20) are kept.
    String code =
        """
        import os
        for i in range(3):
            for j in range(2):
                d = f'lvl {i}/sous-dossier \u00e9 {j}'
                os.makedirs(d, exist_ok=True)
                for k in range(5):
                    open(f'{d}/f#{k} & co.txt', 'w').write(str(k))
        """;
    JsonNode run = server.exec("py", code).json();
    assertEquals("ok", run.path("status").asText(), run.toString());
    assertEquals(20, run.path("files").size(), run.toString());
    assertEquals(
        "lvl 0/sous-dossier \u00e9 0/f#0 & co.txt", run.path("files").get(0).path("name").asText());
    JsonNode skipped = run.path("skipped_files");
    assertEquals(10, skipped.size(), run.toString());
    for (JsonNode s : skipped) {
      assertEquals("too_many", s.path("reason").asText());
      assertTrue(s.path("name").asText().startsWith("lvl 2/"), s.toString());
    }
    assertEquals(
        Map.of(
            "code",
            "artifact_delivery_failed",
            "status",
            "partial",
            "attempted",
            30,
            "delivered",
            20,
            "failed",
            10),
        deliveryOf(run));
    assertTrue(
        run.path("stderr")
            .asText()
            .contains("10 more generated file(s) not kept: at most 20 per run"),
        run.toString());
  }

  @Test
  void aFileOverTheSizeLimitIsNamedAndTheOthersComeBack() {
    long limit = TestServer.MAX_FILE_BYTES;
    String code =
        "open('big output.bin', 'wb').write(b'0' * "
            + (limit + 1)
            + ")\nopen('small.txt', 'w').write('ok')\nprint('done')\n";
    JsonNode run = server.exec("py", code).json();
    assertEquals("done\n", run.path("stdout").asText(), run.toString());
    assertEquals(List.of("small.txt"), names(run.path("files")), run.toString());
    JsonNode skipped = run.path("skipped_files").get(0);
    assertEquals("big output.bin", skipped.path("name").asText());
    assertEquals("too_large", skipped.path("reason").asText());
    assertEquals(limit + 1, skipped.path("size").asLong());
    assertEquals("larger than the file size limit (2 MiB)", skipped.path("message").asText());
    assertTrue(
        run.path("stderr")
            .asText()
            .contains(
                "[kubecoderun] generated file 'big output.bin' not kept: larger than the file size"
                    + " limit (2 MiB)"),
        run.toString());
    assertEquals("partial", run.path("artifact_delivery").path("status").asText());

    JsonNode only =
        server.exec("py", "open('big.bin', 'wb').write(b'0' * " + (limit + 1) + ")").json();
    assertEquals(0, only.path("files").size(), only.toString());
    assertEquals(
        Map.of(
            "code",
            "artifact_delivery_failed",
            "status",
            "failed",
            "attempted",
            1,
            "delivered",
            0,
            "failed",
            1),
        deliveryOf(only));
  }

  /**
   * A name the file system holds but that, as text, could not come back as an input name (255 bytes
   * that are not UTF-8 are 765 bytes of U+FFFD; 33 levels; 1 259 bytes in all) is not stored:
   * LibreChat would send it back with every later run, each refused. It is named; the normal file
   * next to it comes back, and the next run given every returned file works.
   */
  @Test
  void aFileWhoseNameCouldNotBeSentBackIsNamedNotStored() {
    String code =
        """
        import os
        open('normal.txt', 'w').write('n')
        open(b'\\xff' * 255, 'w').write('x')
        os.makedirs('/'.join(['d'] * 32))
        open('/'.join(['d'] * 32) + '/deep.txt', 'w').write('x')
        os.makedirs('/'.join(['l' * 250] * 5))
        open('/'.join(['l' * 250] * 5) + '/long.txt', 'w').write('x')
        """;
    TestServer.Reply reply = server.exec("py", code);
    assertEquals(200, reply.status(), reply.body());
    JsonNode run = reply.json();
    assertEquals(List.of("normal.txt"), names(run.path("files")), run.toString());
    Map<String, String> reasons = new java.util.TreeMap<>();
    run.path("skipped_files")
        .forEach(f -> reasons.put(f.path("name").asText(), f.path("reason").asText()));
    assertEquals(
        Map.of(
            "\ufffd".repeat(255),
            "unusable_name",
            String.join("/", java.util.Collections.nCopies(32, "d")) + "/deep.txt",
            "unusable_name",
            String.join("/", java.util.Collections.nCopies(5, "l".repeat(250))) + "/long.txt",
            "unusable_name"),
        reasons,
        run.toString());
    assertTrue(
        run.path("stderr").asText().contains("[kubecoderun] generated file '\ufffd\ufffd"),
        run.toString());
    assertEquals("partial", run.path("artifact_delivery").path("status").asText());

    // LibreChat's next call sends every file it was given back, with its name: the run works.
    String session = run.path("session_id").asText();
    List<Map<String, String>> refs = new java.util.ArrayList<>();
    run.path("files")
        .forEach(
            f ->
                refs.add(
                    Map.of(
                        "id", f.path("id").asText(),
                        "storage_session_id", session,
                        "name", f.path("name").asText())));
    TestServer.Reply next =
        server.exec(
            Map.of("lang", "py", "code", "print(open('normal.txt').read())", "files", refs));
    assertEquals(200, next.status(), next.body());
    assertEquals("n\n", next.json().path("stdout").asText(), next.body());
  }

  /** Folders deeper than PATH_MAX cannot be listed: named, not silently missing. */
  @Test
  void aFolderTheRunnerCannotLookIntoIsNamed() {
    String code =
        """
        import os
        open('kept.txt', 'w').write('k')
        os.mkdir('deep')
        os.chdir('deep')
        for i in range(20):
            os.mkdir('d' * 250)
            os.chdir('d' * 250)
        open('lost.txt', 'w').write('x')
        """;
    JsonNode run = server.exec("py", code).json();
    assertEquals(List.of("kept.txt"), names(run.path("files")), run.toString());
    JsonNode skipped = run.path("skipped_files").get(0);
    assertTrue(skipped.path("name").asText().startsWith("deep/ddd"), run.toString());
    assertEquals("unreadable", skipped.path("reason").asText());
    assertEquals(
        "the runner could not look into it: file name too long", skipped.path("message").asText());
    assertEquals("partial", run.path("artifact_delivery").path("status").asText());
    assertTrue(run.path("stderr").asText().contains("not kept: the runner could not look into it"));
  }

  /** Symlinks (never followed), named pipes and sockets are named, not returned, not dropped. */
  @Test
  void entriesThatAreNotRegularFilesAreNamed() {
    String code =
        """
        import os, socket
        open('real.txt', 'w').write('r')
        os.symlink('/etc/passwd', 'passwd link')
        os.mkfifo('pipe')
        socket.socket(socket.AF_UNIX).bind('sock')
        """;
    JsonNode run = server.exec("py", code).json();
    assertEquals(List.of("real.txt"), names(run.path("files")), run.toString());
    Map<String, String> reasons = new java.util.TreeMap<>();
    run.path("skipped_files")
        .forEach(
            f ->
                reasons.put(
                    f.path("name").asText(),
                    f.path("reason").asText() + ": " + f.path("message").asText()));
    String tail = ", not a regular file: only regular files are returned";
    assertEquals(
        Map.of(
            "passwd link", "not_a_file: a symlink" + tail,
            "pipe", "not_a_file: a named pipe" + tail,
            "sock", "not_a_file: a socket" + tail),
        reasons,
        run.toString());
    assertEquals("partial", run.path("artifact_delivery").path("status").asText());
    assertTrue(
        run.path("stderr").asText().contains("'passwd link' not kept: a symlink"), run.toString());
  }

  private static List<String> names(JsonNode files) {
    List<String> out = new java.util.ArrayList<>();
    files.forEach(f -> out.add(f.path("name").asText()));
    return out;
  }

  private static Map<String, Object> deliveryOf(JsonNode run) {
    JsonNode d = run.path("artifact_delivery");
    return Map.of(
        "code", d.path("code").asText(),
        "status", d.path("status").asText(),
        "attempted", d.path("attempted").asInt(),
        "delivered", d.path("delivered").asInt(),
        "failed", d.path("failed").asInt());
  }
}
