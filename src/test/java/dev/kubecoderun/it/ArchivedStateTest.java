package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.files.S3ObjectStore;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.state.StateArchive;
import dev.kubecoderun.testing.Eventually;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A Python state archived to S3 (states/{sid}/state.dat) outlives what Redis knew of its session
 * when Redis loses its data (a restart or failover without persistence): the id is free again, and
 * whoever names it next makes a new session of it, which must start empty, as a session made anew
 * does (docs/configuration.md, SESSION_TTL_HOURS), not with the former owner's variables.
 */
@Tag("integration")
class ArchivedStateTest {
  private final TestServer server = TestServer.withRealStores();

  /**
   * Writes {@code state} as the archive of {@code sid} in the server's S3, as the archiver does.
   */
  private void archive(String sid, byte[] state) {
    new StateArchive(S3ObjectStore.create(server.config.s3()))
        .put(sid, Base64.getEncoder().encodeToString(state));
  }

  @Test
  void anArchiveLeftFromBeforeRedisLostItsDataIsNotRestoredIntoANewSessionOfItsId() {
    // The first key's variables, archived; then Redis lost the session (nothing of it is written
    // to Redis here, as after a flush).
    JsonNode first =
        server.exec(Map.of("lang", "py", "code", "secret = 'of the first key'")).json();
    assertTrue(first.path("has_state").asBoolean(), first.toString());
    byte[] state = server.get("/v1/state/" + first.path("session_id").asText()).raw().body();
    String sid = Ids.next();
    archive(sid, state);

    // Another key names that id: a new session of its own, with nothing of the first key's.
    TestServer.Caller other = server.withKey(TestServer.KEY2);
    TestServer.Reply up = other.upload("mine.txt", new byte[] {1}, Map.of("session_id", sid));
    assertEquals(200, up.status(), up.body());
    assertEquals(sid, up.json().path("session_id").asText(), up.body());
    JsonNode info = other.get("/v1/state/" + sid + "/info").json();
    assertFalse(info.path("exists").asBoolean(), info.toString());
    assertEquals(404, other.get("/v1/state/" + sid).status());
    JsonNode run =
        other
            .exec(Map.of("lang", "py", "code", "print(globals().get('secret'))", "session_id", sid))
            .json();
    assertEquals("None\n", run.path("stdout").asText(), run.toString());
  }

  /** The archive of a session's own state is restored once Redis no longer has the state. */
  @Test
  void aSessionsOwnArchiveIsRestoredWhenRedisNoLongerHasItsState() throws Exception {
    JsonNode first = server.exec(Map.of("lang", "py", "code", "kept = 'mine'")).json();
    String sid = first.path("session_id").asText();
    byte[] state = server.get("/v1/state/" + sid).raw().body();
    // S3 dates an object to the second: the archive is written in a later second than the session
    // was made in (and its state saved), as the archiver's never is sooner than a minute after.
    Instant saved =
        Instant.parse(server.get("/v1/state/" + sid + "/info").json().path("created_at").asText());
    Eventually.await(
        "the clock to be past the second the state was saved in",
        Duration.ofSeconds(5),
        () -> Instant.now().getEpochSecond() > saved.getEpochSecond());
    try (dev.kubecoderun.redis.RedisConnection redis =
        dev.kubecoderun.redis.RedisClients.connect(server.config.redis())) {
      // Archived, then expired from Redis (the state's keys only: the session lives on).
      archive(sid, state);
      redis.run(j -> j.del(redis.key("session:state:" + sid)));
    }
    JsonNode run =
        server.exec(Map.of("lang", "py", "code", "print(kept)", "session_id", sid)).json();
    assertEquals("mine\n", run.path("stdout").asText(), run.toString());
  }
}
