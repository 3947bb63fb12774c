package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The calls LibreChat makes, in the order it makes them. */
@Tag("integration")
class LibreChatFlowTest {
  final TestServer server = server();

  /**
   * The server the flows run against: the local backend's (KubernetesLibreChatFlowTest: a pod's).
   */
  TestServer server() {
    return TestServer.get();
  }

  private static Map<String, Object> ref(String id, String sid, String name) {
    return Map.of("id", id, "storage_session_id", sid, "name", name, "kind", "user");
  }

  /** A run with LibreChat's file references, as its answer. */
  private JsonNode run(String lang, String code, Object... refs) {
    return server.exec(Map.of("lang", lang, "code", code, "files", List.of(refs))).json();
  }

  @Test
  void uploadExecDownloadAndReuseTheOutputInTheNextRun() {
    JsonNode up =
        server
            .upload(
                "/upload",
                "my data.csv",
                "a,b\n1,2\n3,4\n".getBytes(StandardCharsets.UTF_8),
                Map.of("kind", "user", "id", "user-1"))
            .json();
    assertEquals("success", up.path("message").asText());
    String sid = up.path("storage_session_id").asText();
    assertEquals(sid, up.path("session_id").asText());
    JsonNode uploaded = up.path("files").get(0);
    assertEquals("my_data.csv", uploaded.path("filename").asText(), "LibreChat's sanitizer");
    String fid = uploaded.path("fileId").asText();

    // LibreChat's liveness probe and listing see the upload.
    JsonNode object = server.get("/v1/sessions/" + sid + "/objects/" + fid).json();
    Instant lastModified = Instant.parse(object.path("lastModified").asText());
    assertTrue(lastModified.isAfter(Instant.now().minus(Duration.ofMinutes(5))));
    JsonNode summary = server.get("/v1/files/" + sid + "?detail=summary").json();
    assertEquals(sid + "/" + fid, summary.get(0).path("name").asText());

    String code =
        "import csv, os\n"
            + "rows = list(csv.reader(open('my_data.csv')))\n"
            + "os.makedirs('reports', exist_ok=True)\n"
            + "open('reports/sum.txt', 'w').write(str(sum(int(r[0]) for r in rows[1:])))\n"
            + "print(len(rows) - 1)\n";
    JsonNode run = run("py", code, ref(fid, sid, "my_data.csv"));
    assertEquals("2\n", run.path("stdout").asText(), run.toString());
    assertEquals(1, run.path("files").size(), "the unchanged input is not returned: " + run);
    JsonNode out = run.path("files").get(0);
    assertEquals("reports/sum.txt", out.path("name").asText());
    String runSession = run.path("session_id").asText();
    assertEquals(runSession, out.path("storage_session_id").asText());

    TestServer.Reply download =
        server.get(
            "/v1/download/" + runSession + "/" + out.path("id").asText() + "?kind=user&id=u");
    assertEquals(200, download.status());
    assertEquals("4", download.body());
    assertTrue(download.header("Content-Disposition").contains("filename*=UTF-8''sum.txt"));

    // The next run gets the output back by (storage_session_id, id), in its sub-folder.
    JsonNode next =
        run(
            "bash",
            "cat reports/sum.txt; cat my_data.csv | wc -l",
            ref(fid, sid, "my_data.csv"),
            ref(out.path("id").asText(), runSession, "reports/sum.txt"));
    assertEquals("43\n", next.path("stdout").asText(), next.toString());
  }

  /**
   * What code LibreChat's models write: absolute paths under /mnt/data, where uploads are and
   * outputs must go (the sandbox's working directory, on every backend).
   */
  @Test
  void codeReadsUploadsAndWritesOutputsByAbsolutePathUnderMntData() {
    JsonNode up = server.upload("my data.csv", "a,b\n1,2\n3,4\n").json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    String code =
        "import csv, os\n"
            + "print(os.getcwd())\n"
            + "rows = list(csv.reader(open('/mnt/data/my_data.csv')))\n"
            + "with open('/mnt/data/out.csv', 'w') as f:\n"
            + "    f.write('total\\n' + str(sum(int(r[1]) for r in rows[1:])) + '\\n')\n";
    JsonNode run = run("py", code, ref(fid, sid, "my_data.csv"));
    assertEquals("/mnt/data\n", run.path("stdout").asText(), run.toString());
    assertEquals(1, run.path("files").size(), run.toString());
    JsonNode out = run.path("files").get(0);
    assertEquals("out.csv", out.path("name").asText());
    String runSession = run.path("session_id").asText();
    assertEquals(
        "total\n6\n",
        server.get("/v1/download/" + runSession + "/" + out.path("id").asText()).body());

    // The output, passed to the next call, is at /mnt/data again (Python: the one image every
    // Kubernetes run builds, whatever KCR_ALL_IMAGES says).
    JsonNode next =
        run(
            "py",
            "import os\n"
                + "print(open('/mnt/data/out.csv').read().splitlines()[-1])\n"
                + "print(*sorted(os.listdir('/mnt/data')))",
            ref(out.path("id").asText(), runSession, "out.csv"));
    assertEquals("6\nout.csv\n", next.path("stdout").asText(), next.toString());
  }

  @Test
  void aModifiedInputComesBackAsANewFileNamingTheOriginal() {
    JsonNode up = server.upload("notes.txt", "v1").json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    JsonNode run = run("py", "open('notes.txt', 'a').write('+v2')", ref(fid, sid, "notes.txt"));
    JsonNode file = run.path("files").get(0);
    assertEquals("notes.txt", file.path("name").asText(), run.toString());
    assertNotEquals(fid, file.path("id").asText());
    assertEquals(fid, file.path("modified_from").path("id").asText());
    assertEquals(sid, file.path("modified_from").path("storage_session_id").asText());
    String runSession = run.path("session_id").asText();
    assertEquals(
        "v1+v2", server.get("/download/" + runSession + "/" + file.path("id").asText()).body());
    assertEquals("v1", server.get("/download/" + sid + "/" + fid).body(), "the original is kept");
  }

  /** A generated file is stored without a type: its download's type comes from its name. */
  @Test
  void aGeneratedJsonFileDownloadsAsJson() {
    JsonNode run = run("bash", "echo '{\"a\": 1}' > result.json");
    JsonNode file = run.path("files").get(0);
    TestServer.Reply download =
        server.get("/download/" + run.path("session_id").asText() + "/" + file.path("id").asText());
    assertEquals(200, download.status());
    assertEquals("application/json", download.header("Content-Type"));
    assertEquals(1, download.json().path("a").asInt());
  }

  @Test
  void aDeletedInputIsListedInDeletedFiles() {
    JsonNode up = server.upload("tmp.txt", "x").json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();
    JsonNode run = run("bash", "rm tmp.txt", ref(fid, sid, "tmp.txt"));
    assertEquals(List.of("tmp.txt"), Json2.strings(run.path("deleted_files")), run.toString());
    assertEquals(0, run.path("files").size());
  }

  /**
   * What @librechat/agents 2.4.x/3.1.x send (their CodeExecutor, given the model's session_id):
   * {@code GET /files/{sid}?detail=full}, each entry turned into {@code {session_id, id, name}}
   * with {@code id = nameParts.length > 1 ? nameParts[1].split('.')[0] : ''} and {@code name =
   * metadata['original-filename']}, appended to files[] of an /exec without session_id.
   */
  private List<Map<String, Object>> olderClientRefs(String sid) {
    List<Map<String, Object>> refs = new java.util.ArrayList<>();
    for (JsonNode file : server.get("/files/" + sid + "?detail=full").json()) {
      String[] nameParts = file.path("name").asText().split("/", -1);
      String id = nameParts.length > 1 ? nameParts[1].split("\\.", -1)[0] : "";
      refs.add(
          Map.of(
              "session_id",
              sid,
              "id",
              id,
              "name",
              file.path("metadata").path("original-filename").asText()));
    }
    return refs;
  }

  @Test
  void olderClientsReferencesBuiltFromTheFullListingPlaceTheFiles() {
    JsonNode up = server.upload("my data.csv", "a,b\n1,2\n3,4\n").json();
    String sid = up.path("session_id").asText();
    List<Map<String, Object>> refs = olderClientRefs(sid);
    assertEquals("", refs.get(0).get("id"), "a plain name gives the older client no id");

    JsonNode first =
        server
            .exec(
                Map.of(
                    "lang",
                    "bash",
                    "code",
                    "mkdir -p 'my folder' && wc -l < my_data.csv > 'my folder/line count.txt'",
                    "files",
                    refs))
            .json();
    assertEquals(1, first.path("files").size(), first.toString());
    String runSession = first.path("session_id").asText();

    // Its session's listing now holds the upload and the output at a path, whose id the client
    // reads as "line count": both are found by name again.
    List<Map<String, Object>> next = olderClientRefs(runSession);
    assertTrue(
        next.stream().anyMatch(r -> r.get("id").equals("line count")), "refs built: " + next);
    JsonNode second =
        server
            .exec(
                Map.of(
                    "lang",
                    "bash",
                    "code",
                    "cat 'my folder/line count.txt'; head -1 my_data.csv",
                    "files",
                    next))
            .json();
    assertEquals("3\na,b\n", second.path("stdout").asText(), second.toString());
  }

  @Test
  void listingsInEveryDetailAndDeletion() {
    JsonNode up = server.upload("list me.txt", "hello").json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").get(0).path("fileId").asText();

    JsonNode full = server.get("/files/" + sid).json().get(0);
    assertEquals("list_me.txt", full.path("name").asText());
    assertEquals(fid, full.path("id").asText());
    assertEquals(5, full.path("size").asInt());
    assertEquals("list_me.txt", full.path("metadata").path("original-filename").asText());
    JsonNode simple = server.get("/files/" + sid + "?detail=simple").json().get(0);
    assertEquals("/list_me.txt", simple.path("path").asText());
    JsonNode normalized = server.get("/files/" + sid + "?detail=normalized").json().get(0);
    assertEquals("upload", normalized.path("kind").asText());
    // An unknown detail is not refused: it lists as the default, full (as the document says).
    assertEquals(full, server.get("/files/" + sid + "?detail=everything").json().get(0));
    assertEquals(0, server.get("/files/NoSuchSessionAtAll12").json().size());

    assertEquals(200, server.delete("/files/" + sid + "/" + fid).status());
    Errors.assertError(server.get("/download/" + sid + "/" + fid), 404, "resource_not_found");
    Errors.assertError(server.delete("/files/" + sid + "/" + fid), 404, "resource_not_found");
    assertEquals(0, server.get("/files/" + sid).json().size());
  }

  @Test
  void batchUploadReportsEachFile() {
    byte[] big = new byte[(int) TestServer.MAX_FILE_BYTES + 10];
    String boundary = "b" + System.nanoTime();
    String body =
        "--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\nA\r\n"
            + "--"
            + boundary
            + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n";
    byte[] head = body.getBytes(StandardCharsets.ISO_8859_1);
    byte[] tail = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.ISO_8859_1);
    byte[] all = new byte[head.length + big.length + tail.length];
    System.arraycopy(head, 0, all, 0, head.length);
    System.arraycopy(big, 0, all, head.length, big.length);
    System.arraycopy(tail, 0, all, head.length + big.length, tail.length);
    JsonNode r =
        server
            .send(
                server
                    .request("/upload/batch")
                    .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                    .POST(java.net.http.HttpRequest.BodyPublishers.ofByteArray(all)))
            .json();
    assertEquals("partial_success", r.path("message").asText(), r.toString());
    assertEquals(1, r.path("succeeded").asInt());
    assertEquals(1, r.path("failed").asInt());
    assertEquals("success", r.path("files").get(0).path("status").asText());
    assertEquals("error", r.path("files").get(1).path("status").asText());
    assertFalse(r.path("storage_session_id").asText().isEmpty());
  }

  @Test
  void graphsComeBackAsPngFiles() {
    String code =
        "import pandas as pd\nimport matplotlib.pyplot as plt\n"
            + "df = pd.DataFrame({'x': [1, 2, 3], 'y': [1, 4, 9]})\n"
            + "df.plot(x='x', y='y')\nplt.savefig('plot.png')\nprint(df['y'].sum())\n";
    JsonNode r = server.exec("py", code).json();
    assertEquals("14\n", r.path("stdout").asText(), r.toString());
    JsonNode png = r.path("files").get(0);
    assertEquals("plot.png", png.path("name").asText());
    TestServer.Reply d =
        server.get("/download/" + r.path("session_id").asText() + "/" + png.path("id").asText());
    assertEquals("image/png", d.header("Content-Type"));
    assertTrue(d.raw().body().length > 1000);
    assertEquals((byte) 0x89, d.raw().body()[0]);
  }
}
