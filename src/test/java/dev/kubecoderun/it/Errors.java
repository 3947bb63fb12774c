package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;

/** The one error shape, asserted the same way everywhere. */
final class Errors {
  private Errors() {}

  static JsonNode assertError(TestServer.Reply r, int status, String errorType) {
    assertEquals(status, r.status(), r.body());
    JsonNode e = r.json();
    assertTrue(e.path("error").isTextual() && !e.path("error").asText().isBlank(), r.body());
    assertEquals(errorType, e.path("error_type").asText(), r.body());
    assertTrue(
        e.has("details") && (e.get("details").isNull() || e.get("details").isArray()), r.body());
    assertTrue(e.path("timestamp").isNumber(), r.body());
    // Unix seconds with milliseconds, as a plain decimal: never 1.796111608962E9.
    assertTrue(r.body().matches("(?s).*\"timestamp\":\\d{10}\\.\\d{3}[,}].*"), r.body());
    String id = e.path("request_id").asText();
    assertTrue(id.length() == 21, r.body());
    assertEquals(id, r.header("X-Request-ID"), "request id in body and header");
    return e;
  }

  /**
   * A 429 of failed credentials (AUTH_FAILURE_LIMIT): the rate-limit shape, its code, and a
   * Retry-After of at most {@code windowSeconds} in body and header alike.
   */
  static void assertThrottled(TestServer.Reply r, long windowSeconds) {
    JsonNode e = assertError(r, 429, "rate_limited");
    assertEquals("rate_limited", e.path("error").asText(), r.body());
    assertEquals(
        "too_many_failed_credentials", e.path("details").path(0).path("code").asText(), r.body());
    long retry = e.path("retry_after_seconds").asLong();
    assertTrue(retry >= 1 && retry <= windowSeconds, r.body());
    assertEquals(Long.toString(retry), r.header("Retry-After"));
  }
}
