package dev.kubecoderun.api;

import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.SessionResolver;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Listing, downloading, deleting and freshness checks of a session's files. */
final class FilesEndpoint implements HttpService {
  private static final DateTimeFormatter MILLIS_Z =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  private final FileService files;
  private final SessionResolver sessions;
  private final Clock clock;

  FilesEndpoint(FileService files, SessionResolver sessions, Clock clock) {
    this.files = files;
    this.sessions = sessions;
    this.clock = clock;
  }

  @Override
  public void routing(HttpRules rules) {
    rules
        .get("/files/{session_id}", this::list)
        .delete("/files/{session_id}/{file_id}", this::delete)
        .get("/download/{session_id}/{file_id}", this::download)
        .options("/download/{session_id}/{file_id}", this::preflight)
        .get("/sessions/{session_id}/objects/{file_id}", this::object);
  }

  private void list(ServerRequest req, ServerResponse res) {
    String sid = id(req, "session_id");
    String detail = req.query().first("detail").orElse("full");
    boolean live = sessions.find(sid).isPresent();
    Instant now = clock.instant();
    List<Map<String, Object>> out =
        files.list(sid).stream()
            .map(
                f ->
                    switch (detail) {
                      case "summary" -> summary(f, live ? now : f.createdAt());
                      case "simple" -> simple(f);
                      case "normalized" -> normalized(f);
                      default -> full(f);
                    })
            .toList();
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(out));
  }

  /** LibreChat keeps a file while {@code lastModified} is recent: a live session keeps it. */
  private static Map<String, Object> summary(StoredFile f, Instant lastModified) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", f.sessionId() + "/" + f.id());
    m.put("lastModified", MILLIS_Z.format(lastModified));
    return m;
  }

  private static Map<String, Object> simple(StoredFile f) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", f.id());
    m.put("name", f.name());
    m.put("path", f.path());
    return m;
  }

  private static Map<String, Object> full(StoredFile f) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("name", f.name());
    m.put("id", f.id());
    m.put("session_id", f.sessionId());
    m.put("storage_session_id", f.sessionId());
    m.put("content", null);
    m.put("size", f.size());
    m.put(
        "lastModified",
        DateTimeFormatter.ISO_OFFSET_DATE_TIME.format(f.createdAt().atOffset(ZoneOffset.UTC)));
    m.put("etag", "\"" + f.id() + "\"");
    m.put("metadata", Map.of("content-type", f.contentType(), "original-filename", f.name()));
    m.put("contentType", f.contentType());
    return m;
  }

  private static Map<String, Object> normalized(StoredFile f) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", f.id());
    m.put("name", f.name());
    m.put("storage_session_id", f.sessionId());
    m.put("size", f.size());
    m.put("content_type", f.contentType());
    m.put("created_at", MILLIS_Z.format(f.createdAt()));
    m.put("kind", f.kind() == StoredFile.Kind.UPLOAD ? "upload" : "output");
    return m;
  }

  private void download(ServerRequest req, ServerResponse res) throws IOException {
    StoredFile f = existing(req);
    Optional<InputStream> content = files.open(f);
    if (content.isEmpty()) {
      throw ApiError.notFound("File content not found");
    }
    cors(res);
    res.header("Content-Type", ContentTypes.forDownload(f));
    res.header("Content-Disposition", ContentDisposition.attachment(f.name()));
    res.header("Cache-Control", "private, max-age=3600");
    try (InputStream in = content.get();
        OutputStream out = res.outputStream()) {
      in.transferTo(out);
    }
  }

  private void preflight(ServerRequest req, ServerResponse res) {
    cors(res);
    res.header("Access-Control-Max-Age", "3600");
    res.status(204).send();
  }

  private static void cors(ServerResponse res) {
    res.header("Access-Control-Allow-Origin", "*");
    res.header("Access-Control-Allow-Methods", "GET, OPTIONS");
    res.header("Access-Control-Allow-Headers", "x-api-key, Content-Type, Authorization");
    res.header("Access-Control-Expose-Headers", "Content-Disposition");
  }

  private void delete(ServerRequest req, ServerResponse res) throws IOException {
    StoredFile f = existing(req);
    if (!files.delete(f.sessionId(), f.id())) {
      throw ApiError.notFound("File not found");
    }
    res.status(200).send();
  }

  /** LibreChat's liveness probe: reuse the file while {@code lastModified} is under 23 h old. */
  private void object(ServerRequest req, ServerResponse res) {
    StoredFile f = existing(req);
    Instant lastModified =
        sessions.find(f.sessionId()).isPresent() ? clock.instant() : f.createdAt();
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", f.id());
    m.put("session_id", f.sessionId());
    m.put("storage_session_id", f.sessionId());
    m.put("name", f.name());
    m.put("size", f.size());
    m.put("contentType", f.contentType());
    m.put("lastModified", MILLIS_Z.format(lastModified));
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(m));
  }

  private StoredFile existing(ServerRequest req) {
    String sid = id(req, "session_id");
    String fid = id(req, "file_id");
    return files.find(sid, fid).orElseThrow(() -> ApiError.notFound("File not found"));
  }

  static String id(ServerRequest req, String param) {
    String v = req.path().pathParameters().get(param);
    if (!Ids.isValid(v)) {
      throw ApiError.validation(param, "Invalid id: expected [A-Za-z0-9_-]", "invalid_id");
    }
    return v;
  }
}
