package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.session.Ids;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Every bad request gets the right status and the one error shape. */
@Tag("integration")
class ErrorsTest {
  private final TestServer server = TestServer.get();

  @Test
  void aHealthReportAskedWithAUseCacheThatIsNotABooleanIs422() {
    JsonNode e =
        Errors.assertError(server.get("/health/detailed?use_cache=maybe"), 422, "validation");
    assertEquals("use_cache", e.path("details").path(0).path("field").asText(), e.toString());
    assertEquals(200, server.get("/health/detailed?use_cache=0").status());
  }

  @Test
  void malformedJsonIs400() {
    Errors.assertError(server.postJson("/exec", "{not json"), 400, "validation");
    Errors.assertError(server.postJson("/exec", ""), 400, "validation");
  }

  /**
   * A body of two JSON documents is malformed like one with text after its object: it was run as
   * the first of them, the second dropped unseen (the parser reads one root value and stops).
   */
  @Test
  void aBodyWithAnotherJsonValueAfterItsObjectIs400() {
    for (String after : List.of("{}", "{\"lang\":\"js\"}", "[1]", "2", "null")) {
      JsonNode e =
          Errors.assertError(
              server.postJson("/exec", "{\"lang\":\"py\",\"code\":\"print(1)\"}" + after),
              400,
              "validation");
      assertEquals("invalid_json", e.path("details").path(0).path("code").asText(), after);
    }
    assertEquals(
        200, server.postJson("/exec", "{\"lang\":\"py\",\"code\":\"print(1)\"}\n  ").status());
  }

  @Test
  void wrongTypesAndMissingFieldsAre422NamingTheField() {
    JsonNode e =
        Errors.assertError(
            server.postJson("/exec", "{\"lang\":\"py\",\"code\":42}"), 422, "validation");
    assertEquals("code", e.path("details").get(0).path("field").asText());
    e = Errors.assertError(server.postJson("/exec", "{\"code\":\"print(1)\"}"), 422, "validation");
    assertEquals("lang", e.path("details").get(0).path("field").asText());
    Errors.assertError(server.postJson("/exec", "[1,2]"), 422, "validation");
    Errors.assertError(
        server.postJson("/exec", "{\"lang\":\"py\",\"code\":\"1\",\"files\":\"x\"}"),
        422,
        "validation");
  }

  @Test
  void aBodyOfMoreJsonValuesThanATreeMayHoldIs413() {
    String pad = "0,".repeat(500_000);
    Errors.assertError(
        server.postJson("/exec", "{\"lang\":\"py\",\"code\":\"print(1)\",\"pad\":[" + pad + "0]}"),
        413,
        "resource_exhausted");
  }

  @Test
  void unknownLanguageAndEmptyCodeAre400() {
    JsonNode e = Errors.assertError(server.exec("cobol", "DISPLAY 'X'"), 400, "validation");
    assertEquals("unsupported_language", e.path("details").get(0).path("code").asText());
    Errors.assertError(server.exec("py", "   "), 400, "validation");
  }

  @Test
  void oversizedUploadIs413AndStoresNothing() {
    TestServer.Reply r =
        server.upload(
            "/upload",
            "big.bin",
            new byte[(int) TestServer.MAX_FILE_BYTES + 1],
            Map.of("entity_id", "bigfiles"));
    Errors.assertError(r, 413, "resource_exhausted");
  }

  /** {@code count} one-byte file parts named {@code field}, then the end of the body. */
  private static String fileParts(String field, int count) {
    StringBuilder body = new StringBuilder();
    for (int i = 0; i < count; i++) {
      body.append("--B\r\nContent-Disposition: form-data; name=\"")
          .append(field)
          .append("\"; filename=\"f")
          .append(i)
          .append(".txt\"\r\n\r\nx\r\n");
    }
    return body.append("--B--\r\n").toString();
  }

  private TestServer.Reply postMultipart(String path, String body) {
    return server.send(
        server
            .request(path)
            .header("Content-Type", "multipart/form-data; boundary=B")
            .POST(HttpRequest.BodyPublishers.ofString(body)));
  }

  @Test
  void tooManyFilesIs413() {
    Errors.assertError(postMultipart("/upload", fileParts("file", 6)), 413, "resource_exhausted");
  }

  @Test
  void aBatchRefusedPartWayStoresNone() {
    String sid = Ids.next();
    String body =
        "--B\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n"
            + sid
            + "\r\n"
            + fileParts("files", 6);
    Errors.assertError(postMultipart("/upload/batch", body), 413, "resource_exhausted");
    TestServer.Reply listed = server.get("/files/" + sid);
    assertEquals(200, listed.status(), listed.body());
    assertEquals(0, listed.json().size(), "the five stored before the sixth were taken back");
  }

  @Test
  void uploadWithoutAFileOrNotMultipart() {
    Errors.assertError(
        postMultipart(
            "/upload",
            "--B\r\nContent-Disposition: form-data; name=\"entity_id\"\r\n\r\nx\r\n--B--\r\n"),
        422,
        "validation");
    Errors.assertError(server.postJson("/upload", "{}"), 415, "validation");
  }

  @Test
  void anEntityIdThatIsNotAnIdIs422OnUploadAsOnExec() {
    for (String entity : List.of("E:owner", "a b", "x".repeat(41))) {
      JsonNode e =
          Errors.assertError(
              server.upload("/upload", "a.txt", new byte[] {1}, Map.of("entity_id", entity)),
              422,
              "validation");
      assertEquals("invalid_entity_id", e.path("details").get(0).path("code").asText());
      e =
          Errors.assertError(
              server.postJson(
                  "/exec",
                  Json.writeString(Map.of("lang", "py", "code", "print(1)", "entity_id", entity))),
              422,
              "validation");
      assertEquals("invalid_entity_id", e.path("details").get(0).path("code").asText());
    }
  }

  @Test
  void anEmptySessionOrEntityIdOfAnUploadFormIsNoneAsInAJsonBody() {
    TestServer.Reply up =
        server.upload(
            "/upload", "a.txt", new byte[] {1}, Map.of("session_id", "", "entity_id", ""));
    assertEquals(200, up.status(), up.body());
    assertEquals("success", up.json().path("message").asText());
    assertTrue(Ids.isValid(up.json().path("session_id").asText()), up.body());
    TestServer.Reply exec =
        server.postJson(
            "/exec",
            Json.writeString(
                Map.of("lang", "py", "code", "print(1)", "session_id", "", "entity_id", "")));
    assertEquals(200, exec.status(), exec.body());
  }

  /**
   * A session keeps its LibreChat user's id as long as it lives: an id over 256 characters, or with
   * a control character, is refused (422) before a session is made, in the body of /exec and
   * /exec/programmatic and the User-Id header of an upload, and no session holds it.
   */
  @Test
  void aUserIdOverTwoHundredFiftySixCharactersIs422AndStoresNothing() throws Exception {
    // 256 characters is a user id, kept with its session.
    String longest = "v".repeat(255) + "w";
    JsonNode run = server.exec(Map.of("lang", "py", "code", "print(1)", "user_id", longest)).json();
    assertEquals("1", run.path("stdout").asText().strip(), run.toString());
    assertTrue(sessionFilesHolding(longest) > 0, "the session keeps its user's id");
    String tooLong = "u".repeat(257) + "-refused-user-id";
    for (String user : List.of(tooLong, "al\tice", "bob\nadmin")) {
      String body = Json.writeString(Map.of("lang", "py", "code", "print(1)", "user_id", user));
      for (String path : List.of("/exec", "/exec/programmatic")) {
        JsonNode e = Errors.assertError(server.postJson(path, body), 422, "validation");
        assertEquals("invalid_user_id", e.path("details").get(0).path("code").asText());
        assertEquals("user_id", e.path("details").get(0).path("field").asText());
      }
    }
    JsonNode e =
        Errors.assertError(
            server.send(
                server.multipart(
                    server.request("/v1/upload").header("User-Id", tooLong),
                    "a.txt",
                    new byte[] {1},
                    Map.of())),
            422,
            "validation");
    assertEquals("invalid_user_id", e.path("details").get(0).path("code").asText());
    assertEquals("User-Id", e.path("details").get(0).path("field").asText());
    assertEquals(0, sessionFilesHolding("u".repeat(257)));
  }

  /**
   * An empty user id is none, as an absent one is, wherever it comes from: the body of /exec and
   * /exec/programmatic and the User-Id header of an upload all go on, and the session made keeps no
   * user id.
   */
  @Test
  void anEmptyUserIdIsNone() throws Exception {
    String body = Json.writeString(Map.of("lang", "py", "code", "print(1)", "user_id", ""));
    for (String path : List.of("/exec", "/exec/programmatic")) {
      TestServer.Reply r = server.postJson(path, body);
      assertEquals(200, r.status(), path + ": " + r.body());
      assertNoUserId(r.json().path("session_id").asText(), path + ": " + r.body());
    }
    TestServer.Reply r =
        server.send(
            server.multipart(
                server.request("/v1/upload").header("User-Id", ""),
                "a.txt",
                new byte[] {1},
                Map.of()));
    assertEquals(200, r.status(), r.body());
    assertNoUserId(r.json().path("storage_session_id").asText(), r.body());
  }

  /** The local session store's record of {@code sid} exists and keeps no user id. */
  private void assertNoUserId(String sid, String why) throws IOException {
    JsonNode stored =
        Json.MAPPER.readTree(server.dataDir.resolve("meta/sessions/" + sid + ".json").toFile());
    assertTrue(stored.has("id"), why);
    assertTrue(stored.path("userId").isNull() || stored.path("userId").isMissingNode(), why);
  }

  /** How many of the local session store's files hold {@code text}. */
  private long sessionFilesHolding(String text) throws IOException {
    try (var files = Files.walk(server.dataDir.resolve("meta/sessions"))) {
      long n = 0;
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        try {
          if (Files.readString(f).contains(text)) {
            n++;
          }
        } catch (java.nio.file.NoSuchFileException gone) {
          // Deleted as it expired, while listed: it holds nothing now.
        }
      }
      return n;
    }
  }

  /**
   * "index" fits the id alphabet but names the Redis set of all sessions (sessions:index): a
   * session made there would break every session's lookup. Refused wherever a session id comes in.
   */
  @Test
  void theSessionIdIndexIsRefusedEverywhere() {
    String exec = Json.writeString(Map.of("lang", "py", "code", "print(1)", "session_id", "index"));
    List<TestServer.Reply> replies =
        List.of(
            server.postJson("/exec", exec),
            server.postJson("/exec/programmatic", exec),
            server.upload("/upload", "a.txt", new byte[] {1}, Map.of("session_id", "index")),
            server.get("/files/index"),
            server.get("/download/index/" + Ids.next()),
            server.get("/state/index"),
            server.get("/state/index/info"));
    for (TestServer.Reply r : replies) {
      JsonNode e = Errors.assertError(r, 422, "validation");
      assertEquals("invalid_id", e.path("details").get(0).path("code").asText(), e.toString());
    }
    String ref =
        Json.writeString(
            Map.of(
                "lang",
                "py",
                "code",
                "print(1)",
                "files",
                List.of(Map.of("id", Ids.next(), "session_id", "index", "name", "a.txt"))));
    JsonNode e = Errors.assertError(server.postJson("/exec", ref), 422, "validation");
    assertEquals("invalid_id", e.path("details").get(0).path("code").asText(), e.toString());
  }

  @Test
  void traversalNamesNeverLeaveTheSandbox() {
    JsonNode up = server.upload("../../etc/passwd", "not really").json();
    assertEquals("passwd", up.path("files").get(0).path("filename").asText());
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    Errors.assertError(
        server.exec(
            Map.of(
                "lang",
                "py",
                "code",
                "print(1)",
                "files",
                List.of(Map.of("id", fid, "session_id", sid, "name", "../../etc/passwd")))),
        400,
        "validation");
    // Encoded traversal in the URL normalises to a path no route has.
    Errors.assertError(server.get("/download/..%2F..%2Fetc/passwd"), 404, "resource_not_found");
  }

  /**
   * A name the sandbox's file system cannot hold (a folder or file name over 255 bytes) is the
   * request's fault, found before anything is placed: never a sandbox failure (503).
   */
  @Test
  void aFileNameTooLongForTheFileSystemIs400() {
    JsonNode up = server.upload("long.txt", "1").json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    for (String name : List.of("a".repeat(256), "dir/" + "é".repeat(128) + "/x.txt")) {
      JsonNode e =
          Errors.assertError(
              server.exec(
                  Map.of(
                      "lang",
                      "bash",
                      "code",
                      "ls",
                      "files",
                      List.of(Map.of("id", fid, "session_id", sid, "name", name)))),
              400,
              "validation");
      assertEquals("invalid_path", e.path("details").get(0).path("code").asText(), e.toString());
      assertEquals("files[0].name", e.path("details").get(0).path("field").asText(), e.toString());
    }
    // 255 bytes is a name it holds.
    JsonNode run =
        server
            .exec(
                Map.of(
                    "lang",
                    "bash",
                    "code",
                    "ls",
                    "files",
                    List.of(Map.of("id", fid, "session_id", sid, "name", "b".repeat(255)))))
            .json();
    assertEquals("b".repeat(255), run.path("stdout").asText().strip(), run.toString());
  }

  /**
   * An input's name has the limits of an uploaded path (1,024 bytes, 32 levels), on /exec and
   * /exec/programmatic alike: refused before any file is looked up or session made. A name of
   * thousands of one-letter folders once cost a string per folder per check, and a check of every
   * folder against the other names, each as long as the name.
   */
  @Test
  void aFileNameOverTheLimitsOfAnUploadedPathIs400() {
    JsonNode up = server.upload("deep.txt", "1").json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    for (String name : List.of("ab/".repeat(700), "a/".repeat(2_000), "d/".repeat(32) + "f")) {
      Map<String, Object> body =
          Map.of(
              "lang",
              "py",
              "code",
              "print(1)",
              "files",
              List.of(Map.of("id", fid, "session_id", sid, "name", name)));
      for (String path : List.of("/exec", "/exec/programmatic")) {
        JsonNode e =
            Errors.assertError(server.postJson(path, Json.writeString(body)), 400, "validation");
        assertEquals("invalid_path", e.path("details").get(0).path("code").asText(), e.toString());
        assertEquals("files[0].name", e.path("details").get(0).path("field").asText());
      }
    }
  }

  /** An error repeats at most the first hundred characters of what the client sent. */
  @Test
  void anErrorRepeatsOnlyTheBeginningOfAValue() {
    String lang = "cobol".repeat(200_000);
    TestServer.Reply r = server.exec(lang, "print(1)");
    JsonNode e = Errors.assertError(r, 400, "validation");
    assertEquals("unsupported_language", e.path("details").get(0).path("code").asText());
    assertTrue(r.body().length() < 2048, () -> r.body().length() + " characters");
    assertTrue(e.path("error").asText().contains("cobol".repeat(20) + "…"), e.toString());
  }

  @Test
  void unknownSessionsAndFilesAre404() {
    Errors.assertError(
        server.get("/download/NoSuchSession00000001/NoSuchFile000000000001"),
        404,
        "resource_not_found");
    Errors.assertError(
        server.delete("/files/NoSuchSession00000001/NoSuchFile000000000001"),
        404,
        "resource_not_found");
    Errors.assertError(
        server.get("/sessions/NoSuchSession00000001/objects/NoSuchFile000000000001"),
        404,
        "resource_not_found");
  }

  @Test
  void wrongOrMissingKeyIs401() {
    Errors.assertError(
        server.send(
            java.net.http.HttpRequest.newBuilder(server.base.resolve("/exec"))
                .header("X-API-Key", "wrong-key-wrong-key-wrong")
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"lang\":\"py\",\"code\":\"1\"}"))),
        401,
        "authentication");
    Errors.assertError(
        server.send(
            java.net.http.HttpRequest.newBuilder(server.base.resolve("/v1/files/abc")).GET()),
        401,
        "authentication");
  }

  @Test
  void unknownRoutesAre404AndWrongMethods405() {
    Errors.assertError(server.get("/v1/nothing/here"), 404, "resource_not_found");
    TestServer.Reply r = server.get("/v1/exec");
    // The path exists: the method is what is wrong with the request.
    Errors.assertError(r, 405, "validation");
    assertEquals("POST", r.header("Allow"));
  }
}
