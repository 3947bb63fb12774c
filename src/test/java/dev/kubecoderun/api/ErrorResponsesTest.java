package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ErrorResponsesTest {
  @Test
  void theTimestampIsUnixSecondsWithMillisecondsAsAPlainDecimal() throws Exception {
    long before = System.currentTimeMillis();
    String body =
        new String(
            ErrorResponses.body(new ApiError(404, "File not found"), "V1StGXR8_Z5jdHi6B-myT"),
            StandardCharsets.UTF_8);
    long after = System.currentTimeMillis();
    assertTrue(body.matches(".*\"timestamp\":\\d{10}\\.\\d{3}[,}].*"), body);
    JsonNode e = Json.tree(body.getBytes(StandardCharsets.UTF_8));
    double seconds = e.path("timestamp").asDouble();
    assertTrue(seconds >= before / 1000.0 && seconds <= after / 1000.0, body);
    assertTrue(e.path("details").isNull(), "no details: null, as the reference has it");
  }
}
