package dev.kubecoderun.api;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.files.ContentTypes;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.SessionResolver;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.HeaderNames;
import io.helidon.http.Method;
import io.helidon.http.ServerRequestHeaders;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Listing, downloading, deleting and freshness checks of a session's files. */
final class FilesEndpoint implements HttpService {
  private static final DateTimeFormatter MILLIS_Z =
      DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  private static final DateTimeFormatter HTTP_DATE =
      DateTimeFormatter.RFC_1123_DATE_TIME.withZone(ZoneOffset.UTC);

  private final FileService files;
  private final SessionResolver sessions;
  private final Clock clock;
  private final Duration sendTimeout;
  private final Metrics metrics;

  FilesEndpoint(
      FileService files,
      SessionResolver sessions,
      Clock clock,
      Duration sendTimeout,
      Metrics metrics) {
    this.metrics = metrics;
    this.files = files;
    this.sessions = sessions;
    this.clock = clock;
    this.sendTimeout = sendTimeout;
  }

  @Override
  public void routing(HttpRules rules) {
    rules
        .get("/files/{session_id}", this::list)
        .delete("/files/{session_id}/{file_id}", this::delete)
        .get("/download/{session_id}/{file_id}", this::download)
        .head("/download/{session_id}/{file_id}", this::download)
        .options("/download/{session_id}/{file_id}", this::preflight)
        .get("/sessions/{session_id}/objects/{file_id}", this::object);
  }

  /**
   * The session's files the principal may read: all of its own session, the shared (agent, skill)
   * files of its tenant in another's. A session with none for them lists as empty, as an unknown
   * session does.
   */
  private void list(ServerRequest req, ServerResponse res) {
    String sid = id(req, "session_id");
    String detail = req.query().first("detail").orElse("full");
    // At most MAX_SESSION_FILES files, still tens of MB when many: paid for before they are read.
    List<StoredFile> visible = files.list(Principals.of(req), sid, RequestMemory.of(req));
    // Only the summary shows whether the session lives: the others do not read it.
    boolean live = detail.equals("summary") && !visible.isEmpty() && sessions.find(sid).isPresent();
    Instant now = clock.instant();
    List<Map<String, Object>> out =
        visible.stream()
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
    String type = ContentTypes.of(f);
    m.put("metadata", Map.of("content-type", type, "original-filename", f.name()));
    m.put("contentType", type);
    return m;
  }

  private static Map<String, Object> normalized(StoredFile f) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("id", f.id());
    m.put("name", f.name());
    m.put("storage_session_id", f.sessionId());
    m.put("size", f.size());
    m.put("content_type", ContentTypes.of(f));
    m.put("created_at", MILLIS_Z.format(f.createdAt()));
    m.put("kind", f.kind() == StoredFile.Kind.UPLOAD ? "upload" : "output");
    return m;
  }

  /**
   * GET and HEAD of a file: Content-Length always, a single {@code Range} (206, or 416 past the
   * end) with {@code If-Range} against the ETag or Last-Modified. A file id names immutable bytes,
   * so its id is a strong ETag.
   */
  private void download(ServerRequest req, ServerResponse res) throws IOException {
    StoredFile f = existing(req);
    long size = f.size();
    String etag = "\"" + f.id() + "\"";
    boolean head = req.prologue().method() == Method.HEAD;
    Optional<ByteRange> range = Optional.empty();
    // RFC 9110: Range is defined for GET only; If-Range that does not match means the whole file.
    if (!head && ifRangeMatches(req.headers(), etag, f.createdAt())) {
      range = ByteRange.parse(req.headers().first(HeaderNames.RANGE).orElse(null), size);
    }
    Runnable headers =
        () -> {
          cors(res);
          res.header("Content-Type", ContentTypes.of(f));
          res.header("Content-Disposition", ContentDisposition.attachment(f.name()));
          res.header("Cache-Control", "private, max-age=3600");
          res.header("Accept-Ranges", "bytes");
          res.header("ETag", etag);
          res.header("Last-Modified", HTTP_DATE.format(f.createdAt()));
        };
    if (head) {
      headers.run();
      res.headers().contentLength(size);
      res.send();
      return;
    }
    Optional<InputStream> content =
        range.isPresent()
            ? files.open(f, range.get().first(), range.get().length())
            : files.open(f);
    if (content.isEmpty()) {
      throw ApiError.notFound("File content not found");
    }
    String what = f.sessionId() + "/" + f.id();
    try (InputStream in = content.get()) {
      if (range.isPresent()) {
        ByteRange r = range.get();
        FileBody.send(
            res,
            in,
            r.length(),
            sendTimeout,
            () -> {
              headers.run();
              res.status(Status.PARTIAL_CONTENT_206);
              res.header("Content-Range", r.contentRange(size));
            },
            what);
        metrics.fileDownloaded(r.length());
      } else {
        FileBody.send(res, in, size, sendTimeout, headers, what);
        metrics.fileDownloaded(size);
      }
    }
  }

  /** No If-Range, or one naming this file's ETag (strong comparison) or Last-Modified date. */
  private static boolean ifRangeMatches(
      ServerRequestHeaders headers, String etag, Instant lastModified) {
    Optional<String> ifRange = headers.first(HeaderNames.IF_RANGE).map(String::strip);
    if (ifRange.isEmpty()) {
      return true;
    }
    String v = ifRange.get();
    if (v.startsWith("\"") || v.startsWith("W/")) {
      return v.equals(etag);
    }
    try {
      return ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toEpochSecond()
          == lastModified.getEpochSecond();
    } catch (DateTimeParseException e) {
      return false;
    }
  }

  private void preflight(ServerRequest req, ServerResponse res) {
    cors(res);
    res.header("Access-Control-Max-Age", "3600");
    res.status(204).send();
  }

  private static void cors(ServerResponse res) {
    res.header("Access-Control-Allow-Origin", "*");
    res.header("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS");
    res.header(
        "Access-Control-Allow-Headers", "x-api-key, Content-Type, Authorization, Range, If-Range");
    res.header(
        "Access-Control-Expose-Headers",
        "Content-Disposition, Content-Length, Content-Range, Accept-Ranges, ETag");
  }

  /** Only the file's owner deletes it; to anyone else it does not exist. */
  private void delete(ServerRequest req, ServerResponse res) throws IOException {
    String sid = id(req, "session_id");
    String fid = id(req, "file_id");
    if (!files.delete(Principals.of(req), sid, fid)) {
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
    m.put("contentType", ContentTypes.of(f));
    m.put("lastModified", MILLIS_Z.format(lastModified));
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(m));
  }

  private StoredFile existing(ServerRequest req) {
    String sid = id(req, "session_id");
    String fid = id(req, "file_id");
    return files
        .find(Principals.of(req), sid, fid)
        .orElseThrow(() -> ApiError.notFound("File not found"));
  }

  static String id(ServerRequest req, String param) {
    String v = req.path().pathParameters().get(param);
    if (!Ids.isValid(v)) {
      throw ApiError.validation(param, "Invalid id: expected [A-Za-z0-9_-]", "invalid_id");
    }
    return v;
  }
}
