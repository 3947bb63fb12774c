package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import io.helidon.webserver.http.ServerRequest;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;

/**
 * A JSON request body, read once with a size limit. The auth filter may read it first (for a key in
 * the body); the handler then gets the same bytes.
 */
record JsonBody(byte[] bytes) {
  static JsonBody read(ServerRequest req, long maxBytes) {
    var cached = req.context().get(JsonBody.class);
    if (cached.isPresent()) {
      return cached.get();
    }
    byte[] bytes;
    try (InputStream in = req.content().inputStream()) {
      bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, maxBytes + 1));
      if (bytes.length > maxBytes) {
        Bodies.drain(in);
        throw new ApiError(413, "Request body is larger than " + maxBytes + " bytes");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    JsonBody body = new JsonBody(bytes);
    req.context().register(body);
    return body;
  }

  /** The parsed body; malformed JSON is a 400. */
  JsonNode tree() {
    if (bytes.length == 0) {
      throw ApiError.badRequest("Request body is empty; expected JSON", "body", "empty_body");
    }
    try {
      return Json.tree(bytes);
    } catch (IOException e) {
      throw ApiError.badRequest("Request body is not valid JSON", "body", "invalid_json");
    }
  }
}
