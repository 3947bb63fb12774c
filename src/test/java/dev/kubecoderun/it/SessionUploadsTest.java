package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.S3ObjectStore;
import dev.kubecoderun.testing.Eventually;
import dev.kubecoderun.testing.MovingClock;
import dev.kubecoderun.testing.OpenApiContract;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Uploads on both kinds of stores (the embedded ones; Redis and S3Proxy), on a server whose clock
 * the test moves on (SESSION_TTL_HOURS=1): an upload whose session expires while it streams stores
 * nothing, a part's Content-Type that could not be sent as a header is not kept, and an expired
 * session's files count against none of the bytes of the one made anew under its id.
 */
@Tag("integration")
class SessionUploadsTest {
  /** A server, its clock, and its object store seen from the test. */
  private record Server(TestServer api, MovingClock clock, ObjectStore objects) {}

  private static final Map<Stores, Server> SERVERS = new EnumMap<>(Stores.class);

  private static synchronized Server server(Stores kind) {
    return SERVERS.computeIfAbsent(
        kind,
        k -> {
          Map<String, String> env = k.env("kcr-uploads");
          env.put("SESSION_TTL_HOURS", "1");
          env.put("MAX_SESSION_STORAGE_MB", "1");
          env.put("POD_POOL_PY", "0");
          MovingClock clock = new MovingClock(Instant.now().truncatedTo(ChronoUnit.MILLIS));
          TestServer api = TestServer.start(env, "0", clock);
          ObjectStore objects =
              k == Stores.REDIS_AND_S3
                  ? S3ObjectStore.create(api.config.s3())
                  : new LocalObjectStore(api.dataDir);
          return new Server(api, clock, objects);
        });
  }

  @AfterAll
  static void stop() {
    SERVERS.values().forEach(s -> s.api().app.close());
  }

  private static final String BOUNDARY = "kcrSessionUploadsBoundary";
  private static final String TAIL = "\r\n--" + BOUNDARY + "--\r\n";

  private static String field(String name, String value) {
    return "--"
        + BOUNDARY
        + "\r\nContent-Disposition: form-data; name=\""
        + name
        + "\"\r\n\r\n"
        + value
        + "\r\n";
  }

  /** A file part's delimiter and headers; its content follows. */
  private static String filePart(String name, String filename, String contentType) {
    return "--"
        + BOUNDARY
        + "\r\nContent-Disposition: form-data; name=\""
        + name
        + "\"; filename=\""
        + filename
        + "\"\r\nContent-Type: "
        + contentType
        + "\r\n\r\n";
  }

  private static String newSessionId() {
    return "s" + Long.toString(System.nanoTime(), 36);
  }

  /**
   * An expired session's files take none of the bytes of the session made anew under its id
   * (MAX_SESSION_STORAGE_MB=1 here): what a session holds is read from its files' records, which
   * the emptying deletes, not from a counter that could outlive them.
   */
  @ParameterizedTest
  @EnumSource(Stores.class)
  void anExpiredSessionsFilesLeaveNoBytesCounted(Stores kind) {
    Server s = server(kind);
    String sid = newSessionId();
    byte[] big = new byte[700 * 1024];
    assertEquals(
        200, s.api().upload("/v1/upload", "old.bin", big, Map.of("session_id", sid)).status());

    s.clock().set(s.clock().instant().plus(Duration.ofHours(2)));
    TestServer.Reply anew = s.api().upload("/v1/upload", "new.bin", big, Map.of("session_id", sid));
    assertEquals(200, anew.status(), anew.body());
    assertEquals(List.of("new.bin"), s.api().fileNames(sid));
  }

  /**
   * An upload whose session expires while its files stream, and is emptied and made anew by the
   * next request that names it, stores nothing: not a 200 naming a file the emptying deleted (its
   * first), nor a file that outlived its session in the one made anew (its second, written after).
   */
  @ParameterizedTest
  @EnumSource(Stores.class)
  void anUploadWhoseSessionExpiresWhileItStreamsStoresNothing(Stores kind) throws Exception {
    Server s = server(kind);
    String sid = newSessionId();
    byte[] body =
        (field("session_id", sid)
                + filePart("files", "first.txt", "text/plain")
                + "first\r\n"
                + filePart("files", "second.txt", "text/plain")
                + "second"
                + TAIL)
            .getBytes(StandardCharsets.UTF_8);
    int stallAt = body.length - TAIL.length();
    try (Socket upload =
        RawHttp.startPost(s.api().app.port(), "/v1/upload/batch", BOUNDARY, body.length)) {
      OutputStream out = upload.getOutputStream();
      // All but the end of the second file: the server stores the first and waits in the second.
      out.write(body, 0, stallAt);
      out.flush();
      Eventually.await(
          "the upload's first file to be stored",
          Duration.ofSeconds(30),
          () -> s.api().fileNames(sid).contains("first.txt"));

      s.clock().set(s.clock().instant().plus(Duration.ofHours(2)));
      TestServer.Reply later =
          s.api()
              .upload(
                  "/v1/upload",
                  "later.txt",
                  "later".getBytes(StandardCharsets.UTF_8),
                  Map.of("session_id", sid));
      assertEquals(200, later.status(), later.body());
      assertEquals(sid, later.json().path("session_id").asText());
      assertEquals(List.of("later.txt"), s.api().fileNames(sid), "the expired session was emptied");

      out.write(body, stallAt, body.length - stallAt);
      out.flush();
      String reply = RawHttp.readReply(upload.getInputStream());
      assertTrue(reply.startsWith("HTTP/1.1 409"), reply);
      byte[] json = reply.substring(reply.indexOf("\r\n\r\n") + 4).getBytes(StandardCharsets.UTF_8);
      OpenApiContract.shared().check("POST", "/v1/upload/batch", 409, "application/json", json);
      JsonNode error = Json.tree(json);
      assertEquals("session_expired", error.path("details").get(0).path("code").asText(), reply);
    }
    assertEquals(
        List.of("later.txt"), s.api().fileNames(sid), "nothing of the expired upload is listed");
    assertEquals(
        1,
        s.objects().list("sessions/" + sid + "/", null, 10).size(),
        "nor stored: the one object is the later upload's");
  }

  /** POST /upload of {@code content} as one part whose Content-Type header is {@code type}. */
  private static TestServer.Reply upload(Server s, String filename, String type, byte[] content)
      throws IOException {
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.write(filePart("file", filename, type).getBytes(StandardCharsets.UTF_8));
    body.write(content);
    body.write(TAIL.getBytes(StandardCharsets.UTF_8));
    return s.api()
        .send(
            s.api()
                .request("/v1/upload")
                .header("Content-Type", "multipart/form-data; boundary=" + BOUNDARY)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
  }

  /**
   * A part's Content-Type with a byte that is not ASCII, or a CR inside, is no header value (S3's
   * client refuses it): the file is stored as application/octet-stream, and is listed and downloads
   * with the type its name suggests.
   */
  @ParameterizedTest
  @EnumSource(Stores.class)
  void aContentTypeThatCouldNotBeAHeaderIsStoredAsOctetStream(Stores kind) throws Exception {
    Server s = server(kind);
    byte[] content = "some text".getBytes(StandardCharsets.UTF_8);
    for (String type : List.of("text/plain; x=é", "text/plain\rX-Injected: 1")) {
      TestServer.Reply up = upload(s, "note.txt", type, content);
      assertEquals(200, up.status(), type + ": " + up.body());
      String sid = up.json().path("session_id").asText();
      String fid = up.json().path("files").get(0).path("fileId").asText();
      JsonNode listed = s.api().get("/v1/files/" + sid + "?detail=normalized").json().get(0);
      assertEquals("text/plain", listed.path("content_type").asText(), type);
      TestServer.Reply down = s.api().get("/v1/download/" + sid + "/" + fid);
      assertEquals(200, down.status(), type);
      assertEquals("text/plain", down.header("Content-Type"), type);
      assertArrayEquals(content, down.raw().body(), type);
    }
  }

  /** A media type with parameters, quoted or not, is kept as sent. */
  @ParameterizedTest
  @EnumSource(Stores.class)
  void aMediaTypeWithParametersIsKept(Stores kind) throws Exception {
    Server s = server(kind);
    String type = "text/csv; charset=\"utf-8\"; header=present";
    TestServer.Reply up =
        upload(s, "table.csv", type, "a,b\n1,2\n".getBytes(StandardCharsets.UTF_8));
    assertEquals(200, up.status(), up.body());
    String sid = up.json().path("session_id").asText();
    String fid = up.json().path("files").get(0).path("fileId").asText();
    JsonNode listed = s.api().get("/v1/files/" + sid + "?detail=normalized").json().get(0);
    assertEquals(type, listed.path("content_type").asText());
    assertEquals(type, s.api().get("/v1/download/" + sid + "/" + fid).header("Content-Type"));
  }
}
