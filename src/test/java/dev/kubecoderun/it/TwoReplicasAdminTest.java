package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.stores.RedisServer;
import dev.kubecoderun.testing.Eventually;
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
 * Two API replicas on one Redis: a key made on one works on the other, and disabling or revoking it
 * on one is refused by the other's very next request (no cache can keep it alive); usage recorded
 * by one is read on the other; while Redis is down the admin API answers 503, then recovers.
 */
@Tag("integration")
class TwoReplicasAdminTest {
  private static TestServer a;
  private static TestServer b;

  @BeforeAll
  static void start() {
    Map<String, String> env = new HashMap<>();
    env.put("REDIS_URL", RedisServer.shared().url());
    env.put("REDIS_KEY_PREFIX", "kcr-replicas-" + System.nanoTime() + ":");
    env.put("POD_POOL_PY", "0");
    a = TestServer.start(env, "0");
    b = TestServer.start(env, "0");
  }

  @AfterAll
  static void stop() {
    a.app.close();
    b.app.close();
  }

  private static int use(TestServer s, String key) {
    return s.send(HttpRequest.newBuilder(s.base.resolve("/languages")).header("X-API-Key", key))
        .status();
  }

  @Test
  void aChangeOnOneReplicaHoldsOnTheOtherAtItsNextRequest() {
    JsonNode created =
        AdminApiTest.adminJson(a, "POST", "/api/v1/admin/keys", "{\"name\":\"shared\"}").json();
    String secret = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();
    assertEquals(200, use(b, secret), "made on A, works on B");
    assertEquals(200, use(b, secret));

    AdminApiTest.adminJson(a, "PATCH", "/api/v1/admin/keys/" + hash, "{\"enabled\":false}");
    assertEquals(401, use(b, secret), "disabled on A: B refuses the next request");
    AdminApiTest.adminJson(b, "PATCH", "/api/v1/admin/keys/" + hash, "{\"enabled\":true}");
    assertEquals(200, use(a, secret), "enabled on B: A accepts it again");

    assertEquals(
        200, a.send(AdminApiTest.admin(a, "/api/v1/admin/keys/" + hash).DELETE()).status());
    assertEquals(401, use(b, secret), "revoked on A: B refuses the next request");
    assertEquals(401, use(a, secret));
  }

  @Test
  void usageRecordedOnOneReplicaIsReadOnTheOther() throws InterruptedException {
    JsonNode created =
        AdminApiTest.adminJson(a, "POST", "/api/v1/admin/keys", "{\"name\":\"runs on B\"}").json();
    String secret = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();
    TestServer.Reply run =
        b.send(
            HttpRequest.newBuilder(b.base.resolve("/exec"))
                .header("X-API-Key", secret)
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"lang\":\"bash\",\"code\":\"echo hi\"}")));
    assertEquals(200, run.status(), run.body());
    // B records the run's usage just after its answer.
    JsonNode usage =
        Eventually.until(
            "the run's usage recorded",
            Duration.ofSeconds(10),
            () -> a.send(AdminApiTest.admin(a, "/api/v1/admin/keys/" + hash + "/usage")).json(),
            u -> u.at("/totals/executions").asInt() >= 1);
    assertEquals(1, usage.at("/totals/executions").asInt(), usage.toString());
    assertEquals(
        1,
        a.send(AdminApiTest.admin(a, "/api/v1/admin/keys/" + hash))
            .json()
            .get("usage_count")
            .asInt());
  }

  @Test
  void whileRedisIsDownTheAdminApiAnswers503AndAfterItIsBackItAnswersAgain() {
    RedisServer redis = RedisServer.shared();
    redis.stop();
    try {
      for (String path :
          List.of(
              "/api/v1/admin/keys",
              "/api/v1/admin/usage",
              "/api/v1/admin/usage/live",
              "/api/v1/admin/failures",
              "/api/v1/admin/stats",
              "/api/v1/admin/metrics/summary")) {
        TestServer.Reply r = a.send(AdminApiTest.admin(a, path));
        Errors.assertError(r, 503, "service_unavailable");
        assertNotNull(r.header("Retry-After"), path + ": 503 carries Retry-After");
      }
      Errors.assertError(
          a.send(HttpRequest.newBuilder(a.base.resolve("/api/v1/admin/usage"))),
          401,
          "authentication");
      assertEquals(
          200,
          a.send(AdminApiTest.admin(a, "/api/v1/admin/pools")).status(),
          "this replica's pools need no store");
    } finally {
      redis.start();
    }
    TestServer.Reply usage = a.send(AdminApiTest.admin(a, "/api/v1/admin/usage"));
    assertEquals(200, usage.status(), "back without a restart: " + usage.body());
  }
}
