package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.memory.MemoryBudget;
import io.helidon.webserver.http.ServerRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * A JSON request body, read once with a size limit. The auth filter may read it first (for a key in
 * the body); the handler then gets the same bytes. The bytes, and the tree they are parsed into,
 * are held in the request's share of the memory budget.
 */
record JsonBody(byte[] bytes, MemoryBudget.Held held) {
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
    long expected =
        held.reserve(Math.min(req.headers().contentLength().orElse(maxBytes), maxBytes + 1));
    byte[] bytes;
    try (InputStream in = Bodies.open(req)) {
      bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
      if (bytes.length > maxBytes) {
        Bodies.drain(in);
        throw new ApiError(413, "Request body is larger than " + maxBytes + " bytes");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    held.giveBack(expected - bytes.length);
    JsonBody body = new JsonBody(bytes, held);
    req.context().register(body);
    return body;
  }

  /** The parsed body; malformed JSON is a 400, one of more than MAX_TOKENS tokens a 413. */
  JsonNode tree() {
    if (bytes.length == 0) {
      throw ApiError.badRequest("Request body is empty; expected JSON", "body", "empty_body");
    }
    try {
      long tokens = Json.tokens(bytes, MAX_TOKENS);
      if (tokens > MAX_TOKENS) {
        throw new ApiError(413, "Request body holds more than " + MAX_TOKENS + " JSON values");
      }
      held.reserve(tokens * TREE_BYTES_PER_TOKEN);
      return Json.document(bytes);
    } catch (IOException e) {
      throw ApiError.badRequest("Request body is not valid JSON", "body", "invalid_json");
    }
  }
}
