package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A DATA_DIR with what a crash or a damaged disk leaves in it (empty, cut-short and garbage record
 * files in every store, a state meta emptied by a power cut): the server starts, skips them, and
 * serves what it can read; a request that touches a damaged record is not a failure.
 */
@Tag("integration")
class DamagedDataDirTest {
  @TempDir Path data;

  @Test
  void aServerStartsOnDamagedRecordsAndServesTheRest() throws Exception {
    Map<String, String> env = Map.of("DATA_DIR", data.toString());
    TestServer before = TestServer.start(env, "0");
    byte[] content = "kept".getBytes();
    String sid;
    String fileId;
    String damagedStateSid;
    String key;
    try {
      TestServer.Reply up = before.upload("/upload", "kept.txt", content, Map.of());
      sid = up.json().get("session_id").asText();
      fileId = up.json().at("/files/0/fileId").asText();
      assertEquals(
          200, before.exec(Map.of("lang", "py", "code", "x = 42", "session_id", sid)).status());
      damagedStateSid =
          before.exec(Map.of("lang", "py", "code", "y = 1")).json().get("session_id").asText();
      key = AdminApiTest.newApiKey(before, "k");
    } finally {
      before.app.close();
    }

    for (String dir :
        new String[] {
          "meta/sessions", "meta/files/" + sid, "meta/api-keys", "meta/api-key-usage", "usage/hours"
        }) {
      Path d = Files.createDirectories(data.resolve(dir));
      Files.writeString(d.resolve("empty.json"), "");
      Files.writeString(d.resolve("cut.json"), "{\"id\":\"cut\",\"createdAt\":\"2026-");
      Files.writeString(d.resolve("garbage.json"), "\u0000\u0001garbage");
      Files.writeString(d.resolve("null.json"), "null");
      Files.writeString(d.resolve(".left-by-a-kill.json.0000.tmp"), "{\"id\":");
    }
    Files.writeString(data.resolve("usage/failures.json"), "null");
    Files.writeString(data.resolve("states/" + damagedStateSid + "/meta.json"), "");

    TestServer after = TestServer.start(env, "0");
    try {
      assertArrayEquals(content, after.get("/download/" + sid + "/" + fileId).raw().body());
      TestServer.Reply files = after.get("/files/" + sid);
      assertEquals(200, files.status(), files.body());
      TestServer.Reply x = after.exec(Map.of("lang", "py", "code", "print(x)", "session_id", sid));
      assertEquals("42\n", x.json().get("stdout").asText(), x.body());
      // Its state's meta emptied: the session goes on without its variables.
      TestServer.Reply y =
          after.exec(
              Map.of("lang", "py", "code", "print('y' in dir())", "session_id", damagedStateSid));
      assertEquals(200, y.status(), y.body());
      assertEquals("False\n", y.json().get("stdout").asText(), y.body());
      // The managed key made before the restart still opens the API.
      TestServer.Reply withKey = after.withKey(key).exec(Map.of("lang", "bash", "code", "echo ok"));
      assertEquals("ok\n", withKey.json().get("stdout").asText(), withKey.body());
    } finally {
      after.app.close();
    }
  }
}
