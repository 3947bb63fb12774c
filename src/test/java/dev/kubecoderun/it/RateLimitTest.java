package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.session.Ids;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Per-principal rate limits (JWT_RATE_LIMITS) with the headers LibreChat and others read, counted
 * in memory and in Redis: every limited response carries RateLimit-* (draft 6) and X-RateLimit-*;
 * the 429 has Retry-After and {@code error: "rate_limited"}, {@code retry_after_seconds}.
 */
@Tag("integration")
class RateLimitTest {
  private static TestServer embedded;
  private static TestServer redis;

  @BeforeAll
  static void start() {
    Map<String, String> limits = Map.of("JWT_RATE_LIMITS", "per_minute=5", "POD_POOL_PY", "0");
    embedded = TestServer.start(limits, "0");
    Map<String, String> env =
        new HashMap<>(
            TestServer.realStoresEnv(
                "kcr-rl-" + Long.toString(System.nanoTime(), 36) + ":", "kcr-rl"));
    env.putAll(limits);
    redis = TestServer.start(env, "0");
  }

  @AfterAll
  static void stop() {
    embedded.app.close();
    redis.app.close();
  }

  @Test
  void embeddedCountersLimitEachUser() {
    assertLimited(embedded);
  }

  @Test
  void redisCountersLimitEachUser() {
    assertLimited(redis);
  }

  private static void assertLimited(TestServer server) {
    TestServer.Caller user = server.asUser("acme", "rl-" + Ids.next());
    String path = "/v1/files/" + Ids.next();
    TestServer.Reply last = null;
    int sent = 0;
    // Five a minute: the sixth is refused, unless the minute turned meanwhile (then by the 11th).
    while (sent < 11) {
      last = user.get(path);
      sent++;
      if (last.status() == 429) {
        break;
      }
      assertEquals(200, last.status(), last.body());
      assertEquals("5", last.header("RateLimit-Limit"));
      assertEquals("5", last.header("X-RateLimit-Limit"));
      assertEquals("per_minute", last.header("X-RateLimit-Period"));
      long remaining = Long.parseLong(last.header("RateLimit-Remaining"));
      assertTrue(remaining >= 0 && remaining < 5, last.header("RateLimit-Remaining"));
      long reset = Long.parseLong(last.header("RateLimit-Reset"));
      assertTrue(reset >= 1 && reset <= 60, "seconds to the window's end: " + reset);
    }
    assertTrue(sent >= 6, "not before the sixth request");
    JsonNode e = Errors.assertError(last, 429, "rate_limited");
    assertEquals("rate_limited", e.path("error").asText());
    long retry = e.path("retry_after_seconds").asLong();
    assertTrue(retry >= 1 && retry <= 60, e.toString());
    assertEquals(Long.toString(retry), last.header("Retry-After"));
    assertEquals("0", last.header("RateLimit-Remaining"));
    assertEquals("5", last.header("RateLimit-Limit"));

    // Per principal: another user of the tenant, and an API key (no limits), go on.
    TestServer.Reply other = server.asUser("acme", "rl-" + Ids.next()).get(path);
    assertEquals(200, other.status(), other.body());
    TestServer.Reply key = server.get(path);
    assertEquals(200, key.status());
    assertNull(key.header("RateLimit-Limit"), "an env key is not limited");
  }
}
