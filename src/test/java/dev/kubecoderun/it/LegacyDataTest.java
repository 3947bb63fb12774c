package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.redis.RedisClients;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.session.Ids;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The migration: data written before owners were recorded (no owner on the session, the file or the
 * state) is taken over by the first API key that uses it, and never by a LibreChat JWT user; once
 * taken, any other key is told it does not exist. Both stores: the embedded ones across a restart,
 * Redis + S3 with the owner fields removed as an older version wrote them.
 */
@Tag("integration")
class LegacyDataTest {
  private static final byte[] STATE = {2, 7, 7, 7};

  /** What the older version left: a session of an entity with one upload and Python state. */
  private record Legacy(String sid, String fid, String entity) {}

  private static Legacy write(TestServer server) {
    String entity = "asst_" + Ids.next().replace("-", "_").substring(0, 10);
    JsonNode up =
        server
            .upload(
                "/v1/upload",
                "old.csv",
                "a,b\n".getBytes(StandardCharsets.UTF_8),
                Map.of("entity_id", entity))
            .json();
    String sid = up.path("session_id").asText();
    assertEquals(201, server.withKey(TestServer.KEY).post("/v1/state/" + sid, STATE).status());
    return new Legacy(sid, up.path("files").path(0).path("fileId").asText(), entity);
  }

  private static void assertTakenOverByTheFirstKeyOnly(TestServer server, Legacy old) {
    TestServer.Caller user = server.asUser("acme", "u-" + Ids.next());
    TestServer.Caller a = server.withKey(TestServer.KEY);
    TestServer.Caller b = server.withKey(TestServer.KEY2);
    String download = "/v1/download/" + old.sid() + "/" + old.fid();

    // A JWT user never wrote legacy data: it does not exist for them, and they take nothing.
    assertEquals(0, user.get("/v1/files/" + old.sid()).json().size());
    Errors.assertError(user.get(download), 404, "resource_not_found");
    Errors.assertError(user.get("/v1/state/" + old.sid()), 404, "resource_not_found");
    String userSession =
        user.upload("n.csv", new byte[] {1}, Map.of("entity_id", old.entity()))
            .json()
            .path("session_id")
            .asText();
    assertNotEquals(old.sid(), userSession);

    // The first key to use it (here through the entity lookup) takes the session over, with its
    // files and state.
    String entitySession =
        a.upload("n.csv", new byte[] {1}, Map.of("entity_id", old.entity()))
            .json()
            .path("session_id")
            .asText();
    assertEquals(old.sid(), entitySession);
    assertEquals("a,b\n", a.get(download).body());
    assertEquals(2, a.get("/v1/files/" + old.sid()).json().size());
    assertArrayEquals(STATE, a.get("/v1/state/" + old.sid()).raw().body());

    // From then on it is that key's alone.
    Errors.assertError(b.get(download), 404, "resource_not_found");
    assertEquals(0, b.get("/v1/files/" + old.sid()).json().size());
    Errors.assertError(b.get("/v1/state/" + old.sid()), 404, "resource_not_found");
    Errors.assertError(user.get(download), 404, "resource_not_found");
  }

  @Test
  void embeddedDataWithoutOwnersIsTakenOverByTheFirstApiKey() throws IOException {
    Path dir = Files.createTempDirectory("kcr-legacy-");
    Map<String, String> env = Map.of("DATA_DIR", dir.toString(), "POD_POOL_PY", "0");
    TestServer first = TestServer.start(env, "0");
    Legacy old;
    try {
      old = write(first);
    } finally {
      first.app.close();
    }
    // As an older version wrote them: no owner, tenant or sharing.
    try (Stream<Path> files = Files.walk(dir.resolve("meta"))) {
      for (Path f : files.filter(p -> p.toString().endsWith(".json")).toList()) {
        ObjectNode json = (ObjectNode) Json.tree(Files.readAllBytes(f));
        json.remove(java.util.List.of("owner", "tenant", "sharing"));
        Files.write(f, Json.write(json));
      }
    }
    TestServer second = TestServer.start(env, "0");
    try {
      assertTakenOverByTheFirstKeyOnly(second, old);
    } finally {
      second.app.close();
    }
  }

  @Test
  void redisDataWithoutOwnersIsTakenOverByTheFirstApiKey() {
    TestServer server = TestServer.withRealStores();
    Legacy old = write(server);
    Map<String, String> env = new HashMap<>(TestServer.realStoresEnv("kcr-e2e:", "kcr-e2e"));
    env.put("AUTH_ENABLED", "false");
    try (RedisConnection redis = RedisClients.connect(Config.from(env).redis())) {
      redis.run(
          j -> {
            j.hdel(redis.key("sessions:" + old.sid()), "owner", "tenant");
            j.hdel(redis.key("files:" + old.sid() + ":" + old.fid()), "owner", "tenant", "kind");
            // The reference's entity set, where ownerless sessions are listed.
            j.sadd(redis.key("entity_sessions:" + old.entity()), old.sid());
          });
    }
    assertTakenOverByTheFirstKeyOnly(server, old);
  }
}
