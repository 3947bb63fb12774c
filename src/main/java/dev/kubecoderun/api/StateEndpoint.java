package dev.kubecoderun.api;

import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.memory.PaidRead;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionBusyException;
import dev.kubecoderun.session.SessionResolver;
import dev.kubecoderun.state.StateStore;
import dev.kubecoderun.state.StateWrites;
import dev.kubecoderun.state.StoredState;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * GET/POST/DELETE /state/{sid} (raw state bytes with an ETag) and /state/{sid}/info. A session's
 * state is its owner's: to another principal there is none (404, {@code exists: false}, a DELETE
 * that deletes nothing), and a POST to their session is a 404 as for any session of theirs. A POST
 * or DELETE waits for a run of the session in progress (StateWrites).
 */
final class StateEndpoint implements HttpService {
  private final StateStore states;
  private final StateWrites writes;
  private final SessionResolver sessions;
  private final long maxBytes;
  private final String source;

  /** {@code source} names where state lives, as /info reports it: "redis" or "local". */
  StateEndpoint(
      StateStore states,
      StateWrites writes,
      SessionResolver sessions,
      long maxBytes,
      String source) {
    this.states = states;
    this.writes = writes;
    this.sessions = sessions;
    this.maxBytes = maxBytes;
    this.source = source;
  }

  /**
   * The state of the principal's session; empty for any other. The store asks the request's holding
   * for what loading it buffers once it knows its size, before it reads it; the request then keeps
   * what the bytes cost until it has sent them.
   */
  private Optional<StoredState> load(ServerRequest req, String sid) {
    Optional<Session> session = sessions.findOwned(Principals.of(req), sid);
    if (session.isEmpty()) {
      return Optional.empty();
    }
    Room.Counted loading = new Room.Counted(RequestMemory.of(req));
    // Without the session's lock: peek, so an archived state is not written back over a newer one.
    Optional<StoredState> s = states.peek(sid, session.get().createdAt(), loading);
    long keep = s.map(x -> (long) x.bytes().length).orElse(0L);
    if (keep > loading.reserved()) {
      // All or none: bytes the budget cannot hold are not sent on unpaid (a 503 instead).
      loading.reserveAll(keep - loading.reserved());
    } else {
      loading.giveBack(loading.reserved() - keep);
    }
    return s;
  }

  @Override
  public void routing(HttpRules rules) {
    rules
        .get("/state/{session_id}", this::download)
        .post("/state/{session_id}", this::upload)
        .delete("/state/{session_id}", this::delete)
        .get("/state/{session_id}/info", this::info);
  }

  private void download(ServerRequest req, ServerResponse res) {
    String sid = FilesEndpoint.id(req, "session_id");
    StoredState s =
        load(req, sid).orElseThrow(() -> ApiError.notFound("No state for session " + sid));
    String etag = "\"" + s.hash() + "\"";
    res.header("ETag", etag);
    if (noneMatch(req.headers().all(HeaderNames.IF_NONE_MATCH, List::of), s.hash())) {
      res.status(304).send();
      return;
    }
    res.headers().contentType(MediaTypes.APPLICATION_OCTET_STREAM);
    res.send(s.bytes());
  }

  private void upload(ServerRequest req, ServerResponse res)
      throws IOException, InterruptedException {
    String sid = FilesEndpoint.id(req, "session_id");
    MemoryBudget.Held held = RequestMemory.of(req);
    byte[] bytes;
    try (InputStream in = Bodies.open(req)) {
      bytes = read(in, req.headers().contentLength().orElse(-1), maxBytes, held);
    }
    if (bytes.length < 2) {
      throw ApiError.badRequest("State too short", "body", "invalid_state");
    }
    if (bytes[0] != 1 && bytes[0] != 2) {
      throw ApiError.badRequest("Unknown state version: " + bytes[0], "body", "invalid_state");
    }
    // A new session id becomes the principal's; another's is a 404 like any session of theirs.
    Principal principal = Principals.of(req);
    Session session = sessions.createOwned(principal, sid);
    // What the store's write buffers beside the bytes: held only while it writes.
    Room.Counted writing = new Room.Counted(held);
    try {
      writes.upload(sid, bytes, writing, () -> sessions.owns(principal, sid));
    } catch (MemoryBudgetExhaustedException | SessionBusyException e) {
      // Refused before anything was written: a session made for this upload goes with it, as a
      // refused run's does, or each refused retry into a new id would keep an empty session.
      try {
        sessions.forgetIfCreated(session);
      } catch (RuntimeException again) {
        e.addSuppressed(again);
      }
      throw e;
    } finally {
      writing.giveBackAll();
    }
    res.status(201);
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(Map.of("message", "state_uploaded", "size", bytes.length)));
  }

  /**
   * A state's bytes, read into the one array they are stored as: of its announced length ({@code
   * announced}; -1 when the body is chunked), reserved from {@code room} before it is read, which
   * keeps it reserved. A chunked body is read in pieces, each paid for as it arrives, then copied
   * into its array, paid for too: only it costs twice its size, for a moment. Over {@code maxBytes}
   * it is a 413, nothing of it held: an announced one is read past the limit unkept (and the
   * request's end drains the rest), as a JSON body is read before its 413.
   */
  static byte[] read(InputStream in, long announced, long maxBytes, Room room) throws IOException {
    if (announced > maxBytes) {
      Bodies.drain(in, maxBytes + 1);
      throw tooLarge(maxBytes);
    }
    if (announced >= 0) {
      room.reserveAll(announced);
      byte[] bytes = new byte[(int) announced];
      if (in.readNBytes(bytes, 0, bytes.length) < bytes.length) {
        room.giveBack(announced);
        throw ApiError.badRequest(
            "The state ended before its Content-Length", "body", "invalid_state");
      }
      return bytes;
    }
    Room.Counted pieces = new Room.Counted(room);
    try {
      PaidRead body = PaidRead.of(in, maxBytes, pieces, 1);
      if (body.length() > maxBytes) {
        throw tooLarge(maxBytes);
      }
      room.reserveAll(body.length());
      return body.prefix((int) body.length());
    } finally {
      pieces.giveBackAll();
    }
  }

  private static ApiError tooLarge(long maxBytes) {
    return new ApiError(413, "State exceeds the " + maxBytes + " byte limit");
  }

  private void delete(ServerRequest req, ServerResponse res) throws InterruptedException {
    String sid = FilesEndpoint.id(req, "session_id");
    Principal principal = Principals.of(req);
    if (sessions.owns(principal, sid)) {
      writes.delete(sid, () -> sessions.owns(principal, sid));
    }
    res.status(204).send();
  }

  private void info(ServerRequest req, ServerResponse res) {
    String sid = FilesEndpoint.id(req, "session_id");
    Optional<StoredState> s = load(req, sid);
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("exists", s.isPresent());
    m.put("session_id", sid);
    m.put("size_bytes", s.map(x -> x.bytes().length).orElse(null));
    m.put("hash", s.map(StoredState::hash).orElse(null));
    m.put("created_at", s.map(x -> iso(x.createdAt())).orElse(null));
    m.put("expires_at", s.map(x -> iso(x.expiresAt())).orElse(null));
    m.put("source", s.isPresent() ? source : null);
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(m));
  }

  /**
   * Whether If-None-Match names the state (RFC 9110 13.1.2): {@code *}, or a list of tags, weak
   * ones compared weakly. A bare hash, quotes left off, matches too (the Python reference strips
   * them).
   */
  static boolean noneMatch(List<String> headers, String hash) {
    for (String header : headers) {
      for (String tag : header.split(",")) {
        String t = tag.strip();
        if (t.startsWith("W/")) {
          t = t.substring(2);
        }
        if (t.equals("*") || t.replace("\"", "").equals(hash)) {
          return true;
        }
      }
    }
    return false;
  }

  private static String iso(java.time.Instant t) {
    return DateTimeFormatter.ISO_OFFSET_DATE_TIME.format(t.atOffset(ZoneOffset.UTC));
  }
}
