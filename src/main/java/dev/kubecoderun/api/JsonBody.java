package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.PaidRead;
import dev.kubecoderun.memory.Room;
import io.helidon.webserver.http.ServerRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * A JSON request body, read once with a size limit. The auth filter may read it first (for a key in
 * the body); the handler then gets the same bytes. The bytes, and the tree they are parsed into,
 * are held in the request's share of the memory budget: the bytes paid for as they arrive, not as
 * their Content-Length announces, so a client that stalls mid-body holds only what it sent.
 */
record JsonBody(PaidRead body, MemoryBudget.Held held) {
  /**
   * The most tokens (values, field names, ends of objects and arrays) a body may hold. A tree costs
   * up to ~100 bytes a token (an empty object is a node and a map): 10 MiB of {@code [{},{},...]}
   * would be ~350 MB of tree, 500,000 tokens are at most ~50 MB. LibreChat's bodies have dozens.
   */
  static final int MAX_TOKENS = 500_000;

  private static final long TREE_BYTES_PER_TOKEN = 100;

  static JsonBody read(ServerRequest req, long maxBytes) {
    var cached = req.context().get(JsonBody.class);
    if (cached.isPresent()) {
      return cached.get();
    }
    MemoryBudget.Held held = RequestMemory.of(req);
    Room.Counted paid = new Room.Counted(held);
    PaidRead body;
    try (InputStream in = Bodies.open(req)) {
      body = PaidRead.of(in, maxBytes, paid, 1);
      if (body.length() > maxBytes) {
        paid.giveBackAll();
        Bodies.drain(in);
        throw new ApiError(413, "Request body is larger than " + maxBytes + " bytes");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    JsonBody json = new JsonBody(body, held);
    req.context().register(json);
    return json;
  }

  /** The parsed body; malformed JSON is a 400, one of more than MAX_TOKENS tokens a 413. */
  JsonNode tree() {
    if (body.length() == 0) {
      throw ApiError.badRequest("Request body is empty; expected JSON", "body", "empty_body");
    }
    try {
      long tokens = Json.tokens(body.stream(), MAX_TOKENS);
      if (tokens > MAX_TOKENS) {
        throw new ApiError(413, "Request body holds more than " + MAX_TOKENS + " JSON values");
      }
      held.reserve(tokens * TREE_BYTES_PER_TOKEN);
      return Json.document(body.stream());
    } catch (IOException e) {
      throw ApiError.badRequest("Request body is not valid JSON", "body", "invalid_json");
    }
  }
}
