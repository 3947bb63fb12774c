package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.stores.RedisServer;
import java.net.http.HttpRequest;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Two API replicas on one Redis: a key made on one works on the other, and disabling or revoking it
 * on one is refused by the other's very next request (no cache can keep it alive); usage recorded
 * by one is read on the other.
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
  void usageRecordedOnOneReplicaIsReadOnTheOther() {
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
    JsonNode usage = a.send(AdminApiTest.admin(a, "/api/v1/admin/keys/" + hash + "/usage")).json();
    assertEquals(1, usage.at("/totals/executions").asInt(), usage.toString());
    assertEquals(
        1,
        a.send(AdminApiTest.admin(a, "/api/v1/admin/keys/" + hash))
            .json()
            .get("usage_count")
            .asInt());
  }
}
