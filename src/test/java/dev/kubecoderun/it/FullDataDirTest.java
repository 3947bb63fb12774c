package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.testing.SmallDisk;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The embedded default with its DATA_DIR on a disk that fills up (a tmpfs of the test's): uploads,
 * runs and key writes get a 503 that says storage is full, in the one error shape; nothing
 * half-written stays; what was stored before is whole; and once there is room again the same server
 * takes writes, without a restart.
 */
@Tag("integration")
class FullDataDirTest {
  private static SmallDisk disk;
  private static TestServer server;
  private static Path data;

  @BeforeAll
  static void start() {
    disk = SmallDisk.mount(48);
    data = disk.root.resolve("data");
    server = TestServer.start(Map.of("DATA_DIR", data.toString()), "0");
  }

  @AfterAll
  static void stop() {
    server.app.close();
    disk.close();
  }

  @Test
  void aFullDataDirIsAStorageFailureUntilThereIsRoomAgain() throws Exception {
    byte[] first = bytes(10_000);
    String sid =
        server.upload("/upload", "first.bin", first, Map.of()).json().get("session_id").asText();
    String firstId = fileIds(sid).get(0);
    TestServer.Reply run = server.exec(Map.of("lang", "py", "code", "x = 42", "session_id", sid));
    assertEquals(200, run.status(), run.body());
    assertEquals(200, createKey("before").status());

    // Room for part of the upload only: what was written of it goes.
    disk.fillLeaving(256 * 1024);
    assertStorageFull(
        server.upload("/upload", "big.bin", bytes(1 << 20), Map.of("session_id", sid)));
    assertEquals(List.of(), temporaryFiles());
    assertEquals(List.of(firstId), fileIds(sid));
    assertArrayEquals(first, server.get("/download/" + sid + "/" + firstId).raw().body());

    disk.fill();
    assertStorageFull(createKey("during"));
    assertStorageFull(server.exec("py", "print(1)")); // a new session: its file
    // A run in the session whose generated file finds no room (bash: no state to save either).
    assertStorageFull(
        server.exec(Map.of("lang", "bash", "code", "echo x > out.txt", "session_id", sid)));
    assertEquals(List.of(firstId), fileIds(sid));
    TestServer.Reply health = server.get("/health/detailed?use_cache=false");
    assertEquals("unhealthy", health.json().at("/services/storage/status").asText(), health.body());
    TestServer.Reply stats = server.send(AdminApiTest.admin(server, "/api/v1/admin/stats"));
    assertTrue(stats.body().contains("storage full"), stats.body());
    // What was stored before is all there.
    assertArrayEquals(first, server.get("/download/" + sid + "/" + firstId).raw().body());
    assertTrue(keyNames().contains("before"));
    assertEquals(200, server.get("/state/" + sid).status());

    disk.makeRoom();
    TestServer.Reply big =
        server.upload("/upload", "big.bin", bytes(1 << 20), Map.of("session_id", sid));
    assertEquals(200, big.status(), big.body());
    assertEquals(200, createKey("after").status());
    TestServer.Reply again =
        server.exec(Map.of("lang", "py", "code", "print(x)", "session_id", sid));
    assertEquals("42\n", again.json().get("stdout").asText(), again.body());
    health = server.get("/health/detailed?use_cache=false");
    assertEquals("healthy", health.json().at("/services/storage/status").asText(), health.body());
  }

  private static void assertStorageFull(TestServer.Reply r) {
    assertEquals(503, r.status(), r.body());
    JsonNode body = r.json();
    assertEquals("service_unavailable", body.get("error_type").asText(), r.body());
    assertTrue(body.get("error").asText().startsWith("Storage full"), r.body());
    assertEquals("storage_full", body.at("/details/0/code").asText(), r.body());
    assertTrue(body.hasNonNull("request_id"), r.body());
    assertEquals("30", r.header("Retry-After"));
  }

  private static TestServer.Reply createKey(String name) {
    return AdminApiTest.adminJson(
        server, "POST", "/api/v1/admin/keys", "{\"name\":\"" + name + "\"}");
  }

  private static List<String> keyNames() {
    return server
        .send(AdminApiTest.admin(server, "/api/v1/admin/keys"))
        .json()
        .findValuesAsText("name");
  }

  private static List<String> fileIds(String sid) {
    TestServer.Reply r = server.get("/files/" + sid);
    assertEquals(200, r.status(), r.body());
    return r.json().findValuesAsText("id");
  }

  private static List<Path> temporaryFiles() throws IOException {
    try (var paths = Files.walk(data.resolve("objects"))) {
      return paths.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
    }
  }

  private static byte[] bytes(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    return b;
  }
}
