package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import java.io.ByteArrayOutputStream;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A LibreChat skill's files (its primeSkillFiles): one /upload/batch whose part names are paths
 * ({@code skills/<skill name>/<relative path>}), each returned {@code filename} then sent back as
 * the reference's {@code name} and placed at /mnt/data/{@code name}.
 */
@Tag("integration")
class SkillFilesTest {
  private final TestServer server = TestServer.get();

  private static final String SKILL_MD = "skills/My Skill/SKILL.md";
  private static final String SCRIPT = "skills/My Skill/scripts/run.py";
  private static final String LIB = "skills/My Skill/lib/run.py";

  /**
   * POST {@code path} with the form fields, then one {@code file} part per entry of {@code files}.
   */
  private JsonNode upload(String path, Map<String, String> fields, Map<String, String> files) {
    String boundary = "skillBoundary" + System.nanoTime();
    StringBuilder body = new StringBuilder();
    fields.forEach(
        (k, v) ->
            body.append("--")
                .append(boundary)
                .append("\r\nContent-Disposition: form-data; name=\"")
                .append(k)
                .append("\"\r\n\r\n")
                .append(v)
                .append("\r\n"));
    files.forEach(
        (name, content) ->
            body.append("--")
                .append(boundary)
                .append("\r\nContent-Disposition: form-data; name=\"file\"; filename=\"")
                .append(name)
                .append("\"\r\nContent-Type: text/plain\r\n\r\n")
                .append(content)
                .append("\r\n"));
    body.append("--").append(boundary).append("--\r\n");
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(body.toString().getBytes(StandardCharsets.UTF_8));
    TestServer.Reply r =
        server.send(
            server
                .request(path)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(out.toByteArray())));
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  private JsonNode uploadSkill() {
    return uploadSkill(true);
  }

  private JsonNode uploadSkill(boolean readOnly) {
    Map<String, String> files = new LinkedHashMap<>();
    files.put(SKILL_MD, "# My Skill\n");
    files.put(SCRIPT, "print('scripts')\n");
    files.put(LIB, "print('lib')\n");
    return upload(
        "/v1/upload/batch",
        readOnly
            ? Map.of("kind", "skill", "id", "skill-1", "version", "1", "read_only", "true")
            : Map.of("kind", "skill", "id", "skill-1", "version", "1"),
        files);
  }

  private static Map<String, Object> ref(String id, String sid, String name) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("id", id);
    r.put("storage_session_id", sid);
    if (name != null) {
      r.put("name", name);
    }
    r.put("kind", "skill");
    r.put("version", 1);
    return r;
  }

  @Test
  void aSkillsFilesKeepTheirPathsAndAreFoundThereByTheirNames() {
    JsonNode up = uploadSkill();
    assertEquals("success", up.path("message").asText(), up.toString());
    assertEquals(3, up.path("succeeded").asInt(), up.toString());
    String sid = up.path("storage_session_id").asText();
    JsonNode files = up.path("files");
    assertEquals(SKILL_MD, files.get(0).path("filename").asText(), up.toString());
    assertEquals(SCRIPT, files.get(1).path("filename").asText(), up.toString());
    assertEquals(LIB, files.get(2).path("filename").asText(), up.toString());
    assertNotEquals(files.get(1).path("fileId").asText(), files.get(2).path("fileId").asText());
    assertNotEquals(files.get(0).path("fileId").asText(), files.get(1).path("fileId").asText());

    // LibreChat: every returned filename but the SKILL.md, as the reference's name.
    List<Object> refs =
        List.of(
            ref(files.get(1).path("fileId").asText(), sid, files.get(1).path("filename").asText()),
            ref(files.get(2).path("fileId").asText(), sid, files.get(2).path("filename").asText()));
    JsonNode run =
        server
            .exec(
                Map.of(
                    "lang",
                    "bash",
                    "code",
                    "cat \"" + SCRIPT + "\" \"" + LIB + "\"",
                    "session_id",
                    sid,
                    "files",
                    refs))
            .json();
    assertEquals("print('scripts')\nprint('lib')\n", run.path("stdout").asText(), run.toString());
    assertEquals(0, run.path("files").size(), "unchanged inputs are not returned: " + run);
  }

  @Test
  void aReferenceWithoutANamePlacesTheFileAtItsStoredPath() {
    JsonNode up = uploadSkill();
    String sid = up.path("storage_session_id").asText();
    String fid = up.path("files").get(1).path("fileId").asText();
    JsonNode run =
        bash(
            "cat \"" + SCRIPT + "\"; ls run.py 2>/dev/null || echo flat-absent",
            ref(fid, sid, null));
    assertEquals("print('scripts')\nflat-absent\n", run.path("stdout").asText(), run.toString());
  }

  @Test
  void aPathNameIsTheSameInListingsLivenessDownloadAndModifiedFrom() {
    JsonNode up = uploadSkill(false);
    String sid = up.path("storage_session_id").asText();
    String fid = up.path("files").get(1).path("fileId").asText();

    JsonNode full = server.get("/v1/files/" + sid + "?detail=full").json();
    assertEquals(SCRIPT, full.get(1).path("name").asText(), full.toString());
    assertEquals(SCRIPT, full.get(1).path("metadata").path("original-filename").asText());
    JsonNode simple = server.get("/v1/files/" + sid + "?detail=simple").json();
    assertEquals(SCRIPT, simple.get(1).path("name").asText(), simple.toString());
    assertEquals("/" + SCRIPT, simple.get(1).path("path").asText());
    JsonNode object = server.get("/v1/sessions/" + sid + "/objects/" + fid).json();
    assertEquals(SCRIPT, object.path("name").asText(), object.toString());
    TestServer.Reply download = server.get("/v1/download/" + sid + "/" + fid);
    assertEquals("print('scripts')\n", download.body());
    assertTrue(
        download.header("Content-Disposition").contains("filename*=UTF-8''run.py"),
        download.header("Content-Disposition"));

    // A run that changes the file returns it under the same path, naming the original.
    JsonNode run =
        server
            .exec(
                Map.of(
                    "lang",
                    "bash",
                    "code",
                    "echo changed >> \"" + SCRIPT + "\"",
                    "files",
                    List.of(ref(fid, sid, SCRIPT))))
            .json();
    assertEquals(1, run.path("files").size(), run.toString());
    JsonNode out = run.path("files").get(0);
    assertEquals(SCRIPT, out.path("name").asText(), run.toString());
    assertEquals(fid, out.path("modified_from").path("id").asText(), run.toString());
  }

  @Test
  void unsafePathsFallBackToTheirSanitizedLastComponent() {
    Map<String, String> files = new LinkedHashMap<>();
    files.put("../x/a.txt", "1");
    files.put("/etc/b.txt", "2");
    files.put("a//c.txt", "3");
    files.put("a/./d", "4");
    JsonNode up = upload("/v1/upload/batch", Map.of(), files);
    List<String> names = new java.util.ArrayList<>();
    up.path("files").forEach(f -> names.add(f.path("filename").asText()));
    assertEquals(List.of("a.txt", "b.txt", "c.txt", "d"), names, up.toString());
    files.clear();
    files.put("/mnt/data/e f.txt", "5");
    files.put("dir/", "6");
    up = upload("/v1/upload/batch", Map.of(), files);
    assertEquals("e_f.txt", up.path("files").get(0).path("filename").asText(), up.toString());
    assertEquals("_", up.path("files").get(1).path("filename").asText(), up.toString());

    JsonNode single = upload("/v1/upload", Map.of(), Map.of("../../x/a b.txt", "1"));
    assertEquals("a_b.txt", single.path("files").get(0).path("filename").asText());
    JsonNode kept = upload("/v1/upload", Map.of(), Map.of("dir/a b.txt", "1"));
    assertEquals("dir/a b.txt", kept.path("files").get(0).path("filename").asText());
  }

  /**
   * Inputs of one run of which one would be the folder of another ({@code a} and {@code a/b}),
   * whether by the references' names or by the stored names: refused before anything is placed, as
   * the request's fault (400), never as a sandbox failure (503).
   */
  @Test
  void inputsOfWhichOneIsAFolderOfAnotherAreRefused() {
    Map<String, String> files = new LinkedHashMap<>();
    files.put("clash", "file");
    files.put("clash/inner.txt", "nested");
    JsonNode up = upload("/v1/upload/batch", Map.of(), files);
    String sid = up.path("storage_session_id").asText();
    String file = up.path("files").get(0).path("fileId").asText();
    String nested = up.path("files").get(1).path("fileId").asText();
    assertEquals("clash", up.path("files").get(0).path("filename").asText(), up.toString());
    assertEquals(
        "clash/inner.txt", up.path("files").get(1).path("filename").asText(), up.toString());

    List<List<Object>> runs =
        List.of(
            // By their stored names, in both orders.
            List.of(ref(file, sid, null), ref(nested, sid, null)),
            List.of(ref(nested, sid, null), ref(file, sid, null)),
            // By the names the references give, in both orders, deeper too.
            List.of(ref(file, sid, "a"), ref(nested, sid, "a/b")),
            List.of(ref(nested, sid, "a/b/c"), ref(file, sid, "a")));
    for (List<Object> refs : runs) {
      TestServer.Reply r = server.exec(Map.of("lang", "bash", "code", "ls -R", "files", refs));
      JsonNode e = Errors.assertError(r, 400, "validation");
      assertEquals(
          "conflicting_file_names", e.path("details").get(0).path("code").asText(), r.body());
      assertEquals("files", e.path("details").get(0).path("field").asText(), r.body());
      assertTrue(
          e.path("error").asText().contains("'clash'") || e.path("error").asText().contains("'a'"),
          r.body());
    }

    // A programmatic run is refused the same way, before it starts.
    TestServer.Reply ptc =
        server.postJson(
            "/v1/exec/programmatic",
            Json.writeString(
                Map.of(
                    "lang",
                    "py",
                    "code",
                    "print(1)",
                    "tools",
                    List.of(),
                    "files",
                    List.of(ref(file, sid, null), ref(nested, sid, null)))));
    JsonNode refused = Errors.assertError(ptc, 400, "validation");
    assertEquals(
        "conflicting_file_names", refused.path("details").get(0).path("code").asText(), ptc.body());

    // Names that only share a beginning are no folder of one another; the last of one name wins.
    JsonNode run =
        bash(
            "cat a; echo; cat ab; echo; cat a.b/c",
            ref(nested, sid, "a"),
            ref(file, sid, "a"),
            ref(nested, sid, "ab"),
            ref(nested, sid, "a.b/c"));
    assertEquals("file\nnested\nnested", run.path("stdout").asText().strip(), run.toString());
  }

  private JsonNode bash(String code, Object... refs) {
    return server.exec(Map.of("lang", "bash", "code", code, "files", List.of(refs))).json();
  }

  @Test
  void aReadOnlyInputChangedOrDeletedByARunIsNeitherReturnedNorReportedDeleted() {
    JsonNode up = uploadSkill(true);
    String sid = up.path("storage_session_id").asText();
    String fid = up.path("files").get(1).path("fileId").asText();
    Object script = ref(fid, sid, SCRIPT);

    JsonNode changed = bash("echo changed >> \"" + SCRIPT + "\"; echo new > out.txt", script);
    assertEquals(1, changed.path("files").size(), changed.toString());
    assertEquals("out.txt", changed.path("files").get(0).path("name").asText());
    assertTrue(
        changed.path("stderr").asText().contains("read-only input '" + SCRIPT + "'"),
        changed.toString());

    JsonNode deleted = bash("rm \"" + SCRIPT + "\"", script);
    assertEquals(0, deleted.path("files").size(), deleted.toString());
    assertEquals(0, deleted.path("deleted_files").size(), deleted.toString());

    // The next run gets the input as it was uploaded.
    JsonNode again = bash("cat \"" + SCRIPT + "\"", script);
    assertEquals("print('scripts')\n", again.path("stdout").asText(), again.toString());
  }

  @Test
  void anInputNotReadOnlyChangedOrDeletedByARunIsReturnedOrReportedDeleted() {
    JsonNode up = uploadSkill(false);
    String sid = up.path("storage_session_id").asText();
    String fid = up.path("files").get(1).path("fileId").asText();
    Object script = ref(fid, sid, SCRIPT);
    JsonNode changed = bash("echo changed >> \"" + SCRIPT + "\"", script);
    assertEquals(SCRIPT, changed.path("files").get(0).path("name").asText(), changed.toString());
    JsonNode deleted = bash("rm \"" + SCRIPT + "\"", script);
    assertEquals(SCRIPT, deleted.path("deleted_files").get(0).asText(), deleted.toString());
  }

  /** {@code read_only=1} seals an upload as {@code read_only=true} does. */
  @Test
  void readOnlyOneSealsAnUploadToo() {
    JsonNode up = upload("/v1/upload", Map.of("read_only", "1"), Map.of("sealed.txt", "x\n"));
    String sid = up.path("storage_session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    JsonNode changed = bash("echo y >> sealed.txt", ref(fid, sid, "sealed.txt"));
    assertEquals(0, changed.path("files").size(), changed.toString());
    assertTrue(
        changed.path("stderr").asText().contains("read-only input 'sealed.txt'"),
        changed.toString());
  }
}
