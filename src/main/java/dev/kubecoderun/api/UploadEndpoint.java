package dev.kubecoderun.api;

import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.SessionUsage;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.files.TooLargeException;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionResolver;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * POST /upload and /upload/batch: multipart, streamed part by part into the file store. A failed
 * /upload stores nothing; /upload/batch reports each file on its own.
 */
final class UploadEndpoint implements HttpService {
  private static final Logger LOG = Logger.getLogger(UploadEndpoint.class.getName());
  private static final int MAX_FIELD_BYTES = 4096;

  private final FileService files;
  private final SessionResolver sessions;
  private final long maxFileBytes;
  private final int maxFiles;
  private final int maxFields;
  private final int maxSessionFiles;
  private final long maxSessionBytes;
  private final Metrics metrics;

  UploadEndpoint(
      FileService files,
      SessionResolver sessions,
      long maxFileBytes,
      int maxFiles,
      int maxFields,
      int maxSessionFiles,
      long maxSessionBytes,
      Metrics metrics) {
    this.metrics = metrics;
    this.files = files;
    this.sessions = sessions;
    this.maxFileBytes = maxFileBytes;
    this.maxFiles = maxFiles;
    this.maxFields = maxFields;
    this.maxSessionFiles = maxSessionFiles;
    this.maxSessionBytes = maxSessionBytes;
  }

  @Override
  public void routing(HttpRules rules) {
    rules.post("/upload", (req, res) -> upload(req, res, false));
    rules.post("/upload/batch", (req, res) -> upload(req, res, true));
  }

  private void upload(ServerRequest req, ServerResponse res, boolean batch)
      throws IOException, InterruptedException {
    String boundary =
        MultipartReader.boundaryOf(req.headers().first(HeaderNames.CONTENT_TYPE).orElse(null));
    if (boundary == null) {
      throw new ApiError(415, "Expected a multipart/form-data body with a 'file' part");
    }
    Principal principal = Principals.of(req);
    Map<String, String> fields = new HashMap<>();
    int fieldCount = 0;
    List<StoredFile> stored = new ArrayList<>();
    List<Map<String, Object>> results = new ArrayList<>();
    Session session = null;
    int inSession = 0; // the session's files before this upload
    long sessionBytes = 0; // and their bytes
    long storedBytes = 0; // of this upload's files stored
    int failed = 0;
    boolean complete = false;
    // A part is never longer than the body: the store buffers (and reserves) no more than that.
    long partBound = Math.min(req.headers().contentLength().orElse(maxFileBytes), maxFileBytes);
    try (InputStream body = Bodies.open(req)) {
      MultipartReader parts = new MultipartReader(body, boundary);
      for (MultipartReader.Part p = parts.next(); p != null; p = parts.next()) {
        if (p.filename() == null) {
          // Held in memory: bounded in number as in size.
          if (++fieldCount > maxFields) {
            Bodies.drain(body);
            throw new ApiError(413, "Too many form fields. Maximum " + maxFields + " allowed");
          }
          fields.put(p.name(), p.text(MAX_FIELD_BYTES));
          continue;
        }
        if (!p.name().equals("file") && !p.name().equals("files")) {
          continue;
        }
        if (stored.size() + failed >= maxFiles) {
          Bodies.drain(body);
          throw new ApiError(413, "Too many files. Maximum " + maxFiles + " files allowed");
        }
        if (session == null) {
          session = session(principal, fields, req);
          SessionUsage before = files.usage(session.id());
          inSession = before.files();
          sessionBytes = before.bytes();
        }
        // Counted once here; checked again once this upload's files are stored (below).
        if (inSession + stored.size() >= maxSessionFiles) {
          if (!batch) {
            Bodies.drain(body);
            throw sessionFull(session);
          }
          failed++;
          results.add(result("error", null, p.filename(), sessionFullMessage(session)));
          continue;
        }
        // Read no further than the session's room: a file past it is never stored whole.
        long room = Math.max(0, maxSessionBytes - sessionBytes - storedBytes);
        try {
          StoredFile f =
              files.upload(
                  principal,
                  sharing(fields),
                  session.id(),
                  p.filename(),
                  p.contentType(),
                  p.body(),
                  Math.min(partBound, room),
                  RequestMemory.of(req),
                  readOnly(fields));
          stored.add(f);
          storedBytes += f.size();
          results.add(result("success", f, p.filename(), null));
        } catch (TooLargeException e) {
          if (room < partBound) {
            // Past the session's room, not (as far as it was read) past the file size limit.
            if (!batch) {
              Bodies.drain(body);
              throw storageFull(session);
            }
            failed++;
            results.add(result("error", null, p.filename(), storageFullMessage(session, p)));
            continue;
          }
          String msg =
              "File "
                  + p.filename()
                  + " exceeds maximum size of "
                  + maxFileBytes / (1024 * 1024)
                  + "MB";
          if (!batch) {
            Bodies.drain(body);
            throw new ApiError(413, msg);
          }
          failed++;
          results.add(result("error", null, p.filename(), msg));
        }
      }
      // Uploads take no session lock (a long one would hold up the session's runs), so the
      // session may have expired while the files streamed, and been emptied (ExpiredSessions)
      // before or after the bytes or records written here; even made anew. Files that outlived
      // it, or records whose bytes it deleted, must not be answered: all are rolled back. Still
      // live now means live all along (an expired session never comes back; made anew, it is
      // another): nothing of this upload was emptied.
      if (session != null && !sessions.isStill(session)) {
        throw new ApiError(
            409,
            "resource_conflict",
            "The session expired during the upload; nothing was stored: retry",
            List.of(
                new ApiError.Detail(
                    "session_id",
                    "session " + session.id() + " expired during the upload",
                    "session_expired")));
      }
      // Uploads into one session at once (or a run's outputs stored meanwhile) each passed the
      // count taken before their own files: counted again with them stored, a session found past
      // MAX_SESSION_FILES takes this upload back. Of two at once, the later count sees both: the
      // session never stays past it.
      // So with MAX_SESSION_STORAGE_MB: the bytes a session holds are its files' sizes as their
      // records have them, measured anew, so nothing counted can drift from what is stored.
      if (!stored.isEmpty()) {
        SessionUsage after = files.usage(session.id());
        if (after.files() > maxSessionFiles) {
          throw sessionFull(session);
        }
        if (after.bytes() > maxSessionBytes) {
          throw storageFull(session);
        }
      }
      complete = true;
    } finally {
      // An answer that is an error names no file: none stays stored (a batch's per-file errors
      // come with a complete answer).
      if (!complete) {
        files.rollBack(stored);
      }
      if (session != null && (!complete || stored.isEmpty())) {
        forgetIfMadeForNothing(session);
      }
    }
    if (stored.isEmpty() && failed == 0) {
      throw ApiError.validation("file", "Field required: a multipart part named 'file'", "missing");
    }
    Map<String, Object> out = new LinkedHashMap<>();
    if (batch) {
      out.put("message", failed == 0 ? "success" : stored.isEmpty() ? "error" : "partial_success");
    } else {
      out.put("message", "success");
    }
    out.put("session_id", session.id());
    out.put("storage_session_id", session.id());
    if (batch) {
      out.put("files", results);
      out.put("succeeded", stored.size());
      out.put("failed", failed);
    } else {
      out.put(
          "files",
          stored.stream().map(f -> Map.of("fileId", f.id(), "filename", f.name())).toList());
    }
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(out));
    metrics.filesUploaded(stored.size(), stored.stream().mapToLong(StoredFile::size).sum());
  }

  /**
   * A session this upload made goes when the upload stored nothing (refused, or every file of a
   * batch failed), as a refused run's does ({@link SessionResolver#forgetIfCreated}): else each
   * failed upload into a new id or entity would leave an empty session until it expired. Not while
   * it holds files (a roll-back that failed): the emptying of the expired session collects them.
   * Best effort: what stays is an empty session, which expires.
   */
  private void forgetIfMadeForNothing(Session session) {
    try {
      if (session.createdAt().equals(session.lastActivity())
          && files.usage(session.id()).files() == 0) {
        sessions.forgetIfCreated(session);
      }
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "a failed upload's session stays: " + session.id(), e);
    }
  }

  /**
   * The principal's session named by the form, else its entity's, else a new one. Another's named
   * is not found: an upload names its session to put the files there, for the runs of that session
   * to find, and files put elsewhere would be missing where the client looks for them (LibreChat
   * names none: it reads {@code storage_session_id} from the answer).
   */
  private Session session(Principal principal, Map<String, String> fields, ServerRequest req)
      throws InterruptedException {
    // Empty is none, as for an optional field of a JSON body (Fields.optionalString): a form sent
    // with every field, some left blank (curl -F session_id=), names no session.
    String sid = noneIfEmpty(fields.get("session_id"));
    if (sid != null && !Ids.isValid(sid)) {
      throw ApiError.validation("session_id", "Invalid session id", "invalid_id");
    }
    String entity = noneIfEmpty(fields.get("entity_id"));
    if (entity != null && !Ids.isValidEntity(entity)) {
      throw ApiError.invalidEntityId();
    }
    String user =
        req.headers().first(HeaderNames.create("User-Id")).filter(u -> !u.isEmpty()).orElse(null);
    if (user != null && !Ids.isValidUser(user)) {
      throw ApiError.invalidUserId("User-Id");
    }
    return sessions.resolve(
        principal, sid, List.of(), entity, user, SessionResolver.Another.NOT_FOUND);
  }

  private static String noneIfEmpty(String field) {
    return field == null || field.isEmpty() ? null : field;
  }

  /**
   * LibreChat's {@code kind}: {@code user} (the default) files are the uploader's alone, {@code
   * agent} and {@code skill} files are read by the uploader's whole tenant.
   */
  private static StoredFile.Sharing sharing(Map<String, String> fields) {
    String kind = fields.get("kind");
    if (kind == null || kind.isBlank()) {
      return StoredFile.Sharing.USER;
    }
    StoredFile.Sharing s = StoredFile.Sharing.parse(kind.trim());
    if (s == null) {
      throw ApiError.validation("kind", "kind must be user, agent or skill", "invalid_kind");
    }
    return s;
  }

  /**
   * LibreChat's {@code read_only=true} (a skill's files): a run that changes such a file does not
   * return it (see ExecutionService). Anything but {@code true} or {@code 1} is false.
   */
  private static boolean readOnly(Map<String, String> fields) {
    String v = fields.get("read_only");
    return v != null && (v.trim().equalsIgnoreCase("true") || v.trim().equals("1"));
  }

  private static Map<String, Object> result(
      String status, StoredFile f, String filename, String error) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("status", status);
    if (f != null) {
      r.put("fileId", f.id());
      r.put("filename", f.name());
    } else {
      r.put("filename", filename);
      r.put("error", error);
    }
    return r;
  }

  private String sessionFullMessage(Session session) {
    return "Session "
        + session.id()
        + " holds the most files a session may ("
        + maxSessionFiles
        + "): delete some, or upload into a new session";
  }

  private String storageFullMessage(Session session, MultipartReader.Part p) {
    return "File "
        + p.filename()
        + " does not fit in session "
        + session.id()
        + ", past the bytes of files a session may hold ("
        + (maxSessionBytes >> 20)
        + " MiB): delete some of its files, or upload into a new session";
  }

  private String storageFullMessage(Session session) {
    return "Session "
        + session.id()
        + " would hold more bytes of files than a session may ("
        + (maxSessionBytes >> 20)
        + " MiB): delete some of its files, or upload into a new session";
  }

  private ApiError storageFull(Session session) {
    String msg = storageFullMessage(session);
    return new ApiError(
        409,
        "resource_conflict",
        msg,
        List.of(new ApiError.Detail("session_id", msg, "session_storage_limit")));
  }

  private ApiError sessionFull(Session session) {
    String msg = sessionFullMessage(session);
    return new ApiError(
        409,
        "resource_conflict",
        msg,
        List.of(new ApiError.Detail("session_id", msg, "session_file_limit")));
  }
}
