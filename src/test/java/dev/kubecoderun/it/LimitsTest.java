package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import java.io.IOException;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.IntFunction;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Limits that protect the service, seen through HTTP. */
@Tag("integration")
class LimitsTest {
  private final TestServer server = TestServer.get();

  @Test
  void aJsonBodyOverTheLimitIs413() {
    String code = "#".repeat(11 * 1024 * 1024);
    Errors.assertError(
        server.postJson("/exec", "{\"lang\":\"py\",\"code\":\"" + code + "\"}"),
        413,
        "resource_exhausted");
  }

  /**
   * POST /state takes a body up to STATE_MAX_SIZE_MB, even when that is larger than any JSON body
   * or upload allowed: the server's own ceiling on bodies counts it too. One over it is a 413.
   */
  @Test
  void aStateUpToItsOwnLimitIsAcceptedWhenOtherBodiesMustBeSmaller() {
    TestServer own =
        TestServer.start(
            Map.of(
                "MAX_FILE_SIZE_MB", "1",
                "MAX_FILES_PER_REQUEST", "1",
                "MAX_REQUEST_BODY_MB", "1",
                "STATE_MAX_SIZE_MB", "40",
                "POD_POOL_PY", "0"),
            "0");
    try {
      // Past 1 MiB of JSON, 1 MiB of upload and the 16 MiB drained beyond the larger of them.
      byte[] state = new byte[30 << 20];
      state[0] = 1;
      TestServer.Reply up =
          own.send(
              own.request("/state/LargeStateSession0001")
                  .header("Content-Type", "application/octet-stream")
                  .POST(HttpRequest.BodyPublishers.ofByteArray(state)));
      assertEquals(201, up.status(), up.body());
      assertEquals(
          state.length,
          own.get("/state/LargeStateSession0001/info").json().path("size_bytes").asInt());
      TestServer.Reply over =
          own.send(
              own.request("/state/LargeStateSession0002")
                  .header("Content-Type", "application/octet-stream")
                  .POST(HttpRequest.BodyPublishers.ofByteArray(new byte[50 << 20])));
      Errors.assertError(over, 413, "resource_exhausted");
      assertTrue(over.body().contains("State exceeds"), over.body());
    } finally {
      own.app.close();
    }
  }

  /**
   * The input files of a run must fit on its sandbox's disk together (here 16 MiB): more is the
   * request's fault, refused before any sandbox is taken, not a sandbox failure once it is full.
   */
  @Test
  void inputsLargerThanTheSandboxsDiskTogetherAre400() {
    TestServer own = smallDisk();
    JsonNode up = own.upload("big.bin", "x".repeat((2 << 20) - 4096)).json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    IntFunction<List<Map<String, Object>>> copies =
        n ->
            IntStream.range(0, n)
                .mapToObj(
                    i ->
                        Map.<String, Object>of(
                            "id", fid, "storage_session_id", sid, "name", "copy" + i + ".bin"))
                .toList();
    JsonNode fits =
        own.exec(Map.of("lang", "bash", "code", "ls | wc -l", "files", copies.apply(5))).json();
    assertEquals("5\n", fits.path("stdout").asText(), fits.toString());
    TestServer.Reply tooMuch =
        own.exec(Map.of("lang", "bash", "code", "ls", "files", copies.apply(9)));
    Errors.assertError(tooMuch, 400, "validation");
    JsonNode error = tooMuch.json();
    assertEquals("inputs_too_large", error.path("details").get(0).path("code").asText());
    assertTrue(error.path("error").asText().contains("16 MiB"), error.toString());
  }

  /**
   * A file with holes is larger than what it took of the disk: the files a run returns may add up
   * to no more than its sandbox's disk holds (here 16 MiB), else ten files of 2 MiB (the file size
   * limit) that took nothing of it would keep 20 MiB. The first ones are kept up to it, the others
   * named; a later file that still fits is kept; the session and its files are intact.
   */
  @Test
  void theFilesOfARunAddUpToNoMoreThanItsSandboxsDisk() {
    TestServer own = smallDisk();
    long size = (2 << 20) - 4096; // 8 of them fit in 16 MiB, a 9th does not
    String code =
        "def holes(name):\n"
            + "    with open(name, 'wb') as f:\n"
            + "        f.seek("
            + (size - 1)
            + ")\n"
            + "        f.write(b'x')\n"
            + "for i in range(10):\n"
            + "    holes(f'holes{i}.bin')\n"
            + "open('z small.txt', 'w').write('small')\n";
    JsonNode run = own.exec("py", code).json();
    assertEquals("ok", run.path("status").asText(), run.toString());
    List<String> kept = new ArrayList<>();
    run.path("files").forEach(f -> kept.add(f.path("name").asText()));
    List<String> want = new ArrayList<>();
    for (int i = 0; i < 8; i++) {
      want.add("holes" + i + ".bin");
    }
    want.add("z small.txt");
    assertEquals(want, kept, run.toString());
    JsonNode skipped = run.path("skipped_files");
    assertEquals(2, skipped.size(), run.toString());
    for (int i = 0; i < 2; i++) {
      JsonNode s = skipped.get(i);
      assertEquals("holes" + (8 + i) + ".bin", s.path("name").asText(), run.toString());
      assertEquals("total_too_large", s.path("reason").asText(), run.toString());
      assertEquals(size, s.path("size").asLong(), run.toString());
      assertEquals(
          "the run's generated files together would be over the 16 MiB of its sandbox's disk",
          s.path("message").asText());
    }
    assertTrue(
        run.path("stderr")
            .asText()
            .contains(
                "[kubecoderun] generated file 'holes9.bin' not kept: the run's generated files"
                    + " together would be over the 16 MiB of its sandbox's disk"),
        run.toString());
    assertEquals("partial", run.path("artifact_delivery").path("status").asText(), run.toString());
    assertEquals(2, run.path("artifact_delivery").path("failed").asInt(), run.toString());

    String sid = run.path("session_id").asText();
    JsonNode listed = own.get("/v1/files/" + sid).json();
    assertEquals(9, listed.size(), listed.toString());
    JsonNode first = run.path("files").get(0);
    TestServer.Reply download = own.get("/v1/download/" + sid + "/" + first.path("id").asText());
    assertEquals(200, download.status());
    assertEquals(size, download.raw().body().length);
    JsonNode next =
        own.exec(Map.of("lang", "py", "code", "print('next')", "session_id", sid)).json();
    assertEquals("next\n", next.path("stdout").asText(), next.toString());
  }

  private static TestServer smallDisk;

  /** A server whose sandboxes have 16 MiB of disk (SANDBOX_DISK_LIMIT_MB), started once. */
  private static synchronized TestServer smallDisk() {
    if (smallDisk == null) {
      smallDisk = TestServer.start(Map.of("SANDBOX_DISK_LIMIT_MB", "16", "POD_POOL_PY", "0"), "0");
    }
    return smallDisk;
  }

  @AfterAll
  static void stopSmallDisk() {
    if (smallDisk != null) {
      smallDisk.app.close();
    }
  }

  @Test
  void aBodyDeclaredFarOverEveryLimitIsRefusedBeforeItIsSent() throws IOException {
    try (Socket socket = new Socket("127.0.0.1", server.base.getPort())) {
      socket.setSoTimeout(10_000);
      socket
          .getOutputStream()
          .write(
              ("POST /exec HTTP/1.1\r\nHost: localhost\r\nX-API-Key: "
                      + TestServer.KEY
                      + "\r\nContent-Type: application/json\r\nContent-Length: 10737418240\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
      String answer = new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(answer.startsWith("HTTP/1.1 413 "), answer);
      JsonNode error = Json.tree(answer.substring(answer.indexOf("\r\n\r\n") + 4).getBytes());
      assertEquals("resource_exhausted", error.path("error_type").asText(), answer);
      assertEquals("Request body too large", error.path("error").asText(), answer);
      assertTrue(error.path("request_id").isTextual(), answer);
    }
  }

  @Test
  void outputIsCappedAndSaysSo() {
    JsonNode r =
        server.exec("py", "import sys\nsys.stdout.write('x' * 3_000_000)\nprint('tail')").json();
    String out = r.path("stdout").asText();
    assertTrue(out.length() <= 1024 * 1024 + 100, "capped at MAX_OUTPUT_SIZE: " + out.length());
    assertTrue(out.contains("[output truncated"), out.substring(out.length() - 80));
    assertEquals("ok", r.path("status").asText());
  }

  @Test
  void aRunOverTheMemoryLimitIsKilledAndSaysSoWhileTheServiceGoesOn() throws IOException {
    org.junit.jupiter.api.Assumptions.assumeTrue(
        memoryCgroupsPossible(),
        "the runner needs root and a cgroup memory controller to limit memory");
    // SANDBOX_MEMORY_LIMIT_MB is 1024 (the default): three GiB of touched pages cannot fit.
    JsonNode r = server.exec("py", "x = b'x' * (3 * 1024**3)\nprint('survived')").json();
    assertEquals("error", r.path("status").asText(), r.toString());
    assertTrue(r.path("stderr").asText().contains("memory limit"), r.toString());
    assertTrue(!r.path("stdout").asText().contains("survived"), r.toString());
    assertEquals("fine\n", server.exec("py", "print('fine')").json().path("stdout").asText());
  }

  @Test
  void stderrOfASuccessfulRunIsKept() {
    JsonNode r =
        server.exec("py", "import sys\nprint('warning!', file=sys.stderr)\nprint('fine')").json();
    assertEquals("ok", r.path("status").asText());
    assertEquals("warning!\n", r.path("stderr").asText());
  }

  @Test
  void aRunOverTheTimeLimitIsATimeoutWithEverythingKilled() {
    JsonNode r = server.exec("bash", "(sleep 300; echo orphan) & echo started; sleep 300").json();
    assertEquals("timeout", r.path("status").asText(), r.toString());
    assertEquals(124, r.path("code").asInt());
    assertEquals("started\n", r.path("stdout").asText());
    assertTrue(r.path("stderr").asText().contains("timed out after 20 seconds"), r.toString());
  }

  /**
   * What the runner needs for SANDBOX_MEMORY_LIMIT_MB: root, and a memory controller it can use.
   */
  private static boolean memoryCgroupsPossible() throws IOException {
    boolean root =
        java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status")).stream()
            .anyMatch(l -> l.matches("Uid:\\s+0\\s.*"));
    boolean controller = false;
    for (String line :
        java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/mountinfo"))) {
      String[] halves = line.split(" - ", 2);
      String[] fields = halves[0].split(" ");
      String[] fs = halves.length > 1 ? halves[1].split(" ") : new String[0];
      if (fs.length >= 3 && fs[0].equals("cgroup") && fs[2].contains("memory")) {
        controller = true;
      }
      if (fs.length >= 1 && fs[0].equals("cgroup2")) {
        java.nio.file.Path control = java.nio.file.Path.of(fields[4], "cgroup.subtree_control");
        if (java.nio.file.Files.isReadable(control)
            && java.nio.file.Files.readString(control).contains("memory")) {
          controller = true;
        }
      }
    }
    return root && controller;
  }
}
