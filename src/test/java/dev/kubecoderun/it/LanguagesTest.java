package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Every language end to end through HTTP: hello world, an error, a file in and a file out. */
@Tag("integration")
class LanguagesTest {
  final TestServer server = server();

  /** The server to test: the local backend's (KubernetesLanguagesTest: pods of the images). */
  TestServer server() {
    return TestServer.get();
  }

  /** lang, hello-world program, failing program, program doubling in.txt into out.txt. */
  static Stream<Arguments> programs() {
    return Stream.of(
        Arguments.of(
            "py",
            "print('hello')",
            "raise ValueError('boom')",
            "n = int(open('in.txt').read())\nopen('out.txt', 'w').write(str(n * 2))"),
        Arguments.of(
            "js",
            "console.log('hello')",
            "throw new Error('boom')",
            "const fs = require('fs');\nconst n = parseInt(fs.readFileSync('in.txt', 'utf8'));\n"
                + "fs.writeFileSync('out.txt', String(n * 2));"),
        Arguments.of(
            "ts",
            "const msg: string = 'hello';\nconsole.log(msg);",
            "const x: number = 'not a number';\nconsole.log(x);",
            "import * as fs from 'fs';\nconst n: number = parseInt(fs.readFileSync('in.txt', 'utf8'));\n"
                + "fs.writeFileSync('out.txt', String(n * 2));"),
        Arguments.of(
            "go",
            "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello\") }",
            "package main\nfunc main() { undefinedFunction() }",
            "package main\nimport (\"os\"; \"strconv\"; \"strings\")\nfunc main() {\n"
                + " b, _ := os.ReadFile(\"in.txt\")\n n, _ := strconv.Atoi(strings.TrimSpace(string(b)))\n"
                + " os.WriteFile(\"out.txt\", []byte(strconv.Itoa(n*2)), 0644)\n}"),
        Arguments.of(
            "java",
            "public class Hello {\n  public static void main(String[] a) { System.out.println(\"hello\"); }\n}",
            "public class Main {\n  public static void main(String[] a) { int x = \"s\"; }\n}",
            "import java.nio.file.*;\npublic class Doubler {\n  public static void main(String[] a) throws Exception {\n"
                + "    int n = Integer.parseInt(Files.readString(Path.of(\"in.txt\")).trim());\n"
                + "    Files.writeString(Path.of(\"out.txt\"), String.valueOf(n * 2));\n  }\n}"),
        Arguments.of(
            "c",
            "#include <stdio.h>\nint main(void) { printf(\"hello\\n\"); return 0; }",
            "int main(void) { return 0 }",
            "#include <stdio.h>\n#include <math.h>\nint main(void) {\n"
                + "  FILE *f = fopen(\"in.txt\", \"r\"); int n; fscanf(f, \"%d\", &n); fclose(f);\n"
                + "  f = fopen(\"out.txt\", \"w\"); fprintf(f, \"%d\", (int) sqrt((double) n * n) * 2); fclose(f);\n"
                + "  return 0;\n}"),
        Arguments.of(
            "cpp",
            "#include <iostream>\nint main() { std::cout << \"hello\" << std::endl; }",
            "#include <vector>\nint main() { std::vector<int> v = 5; }",
            "#include <fstream>\nint main() { std::ifstream i(\"in.txt\"); int n; i >> n;\n"
                + "  std::ofstream o(\"out.txt\"); o << n * 2; }"),
        Arguments.of(
            "php",
            "<?php echo \"hello\\n\";",
            "<?php throw new Exception('boom');",
            "<?php $n = (int) file_get_contents('in.txt'); file_put_contents('out.txt', (string) ($n * 2));"),
        Arguments.of(
            "rs",
            "fn main() { println!(\"hello\"); }",
            "fn main() { let x: i32 = \"s\"; }",
            "use std::fs;\nfn main() {\n  let n: i32 = fs::read_to_string(\"in.txt\").unwrap().trim().parse().unwrap();\n"
                + "  fs::write(\"out.txt\", (n * 2).to_string()).unwrap();\n}"),
        Arguments.of(
            "r",
            "cat('hello\\n')",
            "stop('boom')",
            "n <- as.integer(readLines('in.txt', warn = FALSE))\nwriteLines(as.character(n * 2), 'out.txt')"),
        Arguments.of(
            "f90",
            "program hello\n  print '(A)', 'hello'\nend program hello",
            "program broken\n  integer :: i = 'a'\nend program broken",
            "program io\n  integer :: n\n  open(10, file='in.txt')\n  read(10, *) n\n  close(10)\n"
                + "  open(11, file='out.txt')\n  write(11, '(I0)') n * 2\n  close(11)\nend program io"),
        Arguments.of(
            "d",
            "import std.stdio;\nvoid main() { writeln(\"hello\"); }",
            "void main() { int x = \"s\"; }",
            "import std.file, std.conv, std.string;\n"
                + "void main() { int n = to!int(readText(\"in.txt\").strip); write(\"out.txt\", to!string(n * 2)); }"),
        Arguments.of(
            "bash",
            "echo hello",
            "echo boom >&2; exit 3",
            "n=$(cat in.txt); printf '%s' $((n * 2)) > out.txt"));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("programs")
  void runsHelloWorld(String lang, String hello, String failing, String io) {
    assumeImage(lang);
    JsonNode r = ok(server.exec(lang, hello));
    assertEquals("hello\n", r.path("stdout").asText(), r.toString());
    assertEquals("ok", r.path("status").asText(), r.toString());
    assertEquals(0, r.path("code").asInt());
    assertEquals(0, r.path("files").size(), "no build artefacts come back: " + r);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("programs")
  void reportsCompileAndRuntimeErrorsAs200WithStderr(
      String lang, String hello, String failing, String io) {
    assumeImage(lang);
    JsonNode r = ok(server.exec(lang, failing));
    assertEquals("error", r.path("status").asText(), r.toString());
    assertNotEquals(0, r.path("code").asInt(), r.toString());
    assertFalse(r.path("stderr").asText().isBlank(), r.toString());
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("programs")
  void readsAnInputFileAndReturnsTheFileItWrote(
      String lang, String hello, String failing, String io) {
    assumeImage(lang);
    JsonNode up = server.upload("in.txt", "21\n").json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    JsonNode r =
        ok(
            server.exec(
                Map.of(
                    "lang",
                    lang,
                    "code",
                    io,
                    "files",
                    List.of(Map.of("id", fid, "storage_session_id", sid, "name", "in.txt")))));
    assertEquals("ok", r.path("status").asText(), r.toString());
    assertEquals(1, r.path("files").size(), "only out.txt comes back, not in.txt: " + r);
    JsonNode out = r.path("files").get(0);
    assertEquals("out.txt", out.path("name").asText());
    TestServer.Reply file =
        server.get("/download/" + r.path("session_id").asText() + "/" + out.path("id").asText());
    assertEquals(200, file.status());
    assertEquals("42", file.body().trim());
  }

  /**
   * js code in ES module syntax (import, top-level await, node: built-ins) uses the packages GET
   * /languages lists, as CommonJS code does with require: Node finds an imported package only in a
   * node_modules folder above the code, never on NODE_PATH.
   */
  @Test
  void jsImportsTheListedPackagesAsAnEsModule() {
    assumeImage("js");
    JsonNode r =
        ok(
            server.exec(
                "js",
                """
                import _ from "lodash";
                import fs from "node:fs";
                const { addDays } = await import("date-fns");
                console.log(_.sum([1, 2]), addDays(new Date(0), 1).getTime(), typeof fs.readFileSync);
                """));
    assertEquals("3 86400000 function\n", r.path("stdout").asText(), r.toString());
    assertEquals("ok", r.path("status").asText(), r.toString());
    r = ok(server.exec("js", "const _ = require('lodash');\nconsole.log(_.sum([1, 2]));"));
    assertEquals("3\n", r.path("stdout").asText(), "CommonJS still requires them: " + r);
  }

  private void assumeImage(String lang) {
    Assumptions.assumeTrue(
        server.canRun(lang),
        () -> lang + ": its image is not built in this run (KCR_ALL_IMAGES=1 builds every image)");
  }

  private static JsonNode ok(TestServer.Reply reply) {
    assertEquals(200, reply.status(), reply.body());
    JsonNode r = reply.json();
    assertTrue(
        r.has("session_id") && r.has("stdout") && r.has("stderr") && r.has("files"), reply.body());
    return r;
  }
}
