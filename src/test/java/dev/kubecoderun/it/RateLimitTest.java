package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.stores.RedisServer;
import dev.kubecoderun.testing.Eventually;
import java.net.ServerSocket;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
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

  private static final Map<String, String> LIMITS =
      Map.of("JWT_RATE_LIMITS", "per_minute=5", "POD_POOL_PY", "0");

  @BeforeAll
  static void start() {
    embedded = TestServer.start(LIMITS, "0");
    redis = TestServer.start(redisEnv(), "0");
  }

  private static Map<String, String> redisEnv() {
    Map<String, String> env =
        new HashMap<>(
            TestServer.realStoresEnv(
                "kcr-rl-" + Long.toString(System.nanoTime(), 36) + ":", "kcr-rl"));
    env.putAll(LIMITS);
    return env;
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

  /**
   * The counters (and managed keys) are in Redis: while it is down a limited principal gets 503
   * with Retry-After from the authentication itself, an env key (no limits, checked locally) goes
   * on, and once Redis is back the limited principal does too. A Redis of this test's own: the
   * shared one serves the other tests.
   */
  @Test
  void whileRedisIsDownALimitedPrincipalGets503AndAnEnvKeyGoesOn() throws Exception {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    RedisServer own = RedisServer.start(port, List.of());
    Map<String, String> env = redisEnv();
    env.put("REDIS_URL", own.url());
    TestServer server = TestServer.start(env, "0");
    try {
      TestServer.Reply created =
          server.send(
              HttpRequest.newBuilder(server.base.resolve("/api/v1/admin/keys"))
                  .header("X-API-Key", TestServer.MASTER)
                  .header("Content-Type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString("{\"name\":\"rl-outage\"}")));
      assertEquals(200, created.status(), created.body());
      TestServer.Caller managed = server.withKey(created.json().path("api_key").asText());
      TestServer.Caller user = server.asUser("acme", "rl-" + Ids.next());
      assertEquals(200, user.get("/v1/languages").status());
      assertEquals(200, managed.get("/v1/languages").status());

      own.stop();
      for (TestServer.Caller caller : List.of(user, managed)) {
        TestServer.Reply down = caller.get("/v1/languages");
        JsonNode e = Errors.assertError(down, 503, "service_unavailable");
        assertTrue(e.path("error").asText().contains("store unavailable"), down.body());
        assertNotNull(down.header("Retry-After"), "503 carries Retry-After");
      }
      TestServer.Reply envKey = server.get("/v1/languages");
      assertEquals(200, envKey.status(), "an env key is checked locally: " + envKey.body());

      own.start();
      Eventually.await(
          "the limited user served again",
          Duration.ofSeconds(30),
          () -> user.get("/v1/languages").status() == 200);
      assertEquals(200, managed.get("/v1/languages").status());
    } finally {
      server.app.close();
      own.kill();
    }
  }
}
