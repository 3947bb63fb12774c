package dev.kubecoderun.it;

import static dev.kubecoderun.it.ProgrammaticToolCallingTest.continuation;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.post;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.python;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.stores.RedisServer;
import dev.kubecoderun.testing.Eventually;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Programmatic tool calling with Redis as the store, on two replicas that share it: a run started
 * on one continues on the other (both reach the machine's jail server), its tokens are single-use
 * on both, and a batch left unanswered past PTC_CONTINUATION_TIMEOUT_SECONDS ends the run.
 */
@Tag("integration")
class ProgrammaticReplicasTest {
  private static TestServer a;
  private static TestServer b;

  private static final String PREFIX = "kcr-ptc-" + System.nanoTime() + ":";

  /** A replica on the shared Redis, batches unanswered for {@code idleSeconds} ending their run. */
  private static TestServer replica(int idleSeconds) {
    Map<String, String> env = new HashMap<>();
    env.put("REDIS_URL", RedisServer.shared().url());
    env.put("REDIS_KEY_PREFIX", PREFIX);
    env.put("POD_POOL_PY", "0");
    env.put("RUNNER_PY_PRELOAD", "json");
    env.put("PTC_CONTINUATION_TIMEOUT_SECONDS", Integer.toString(idleSeconds));
    return TestServer.start(env, "0");
  }

  @BeforeAll
  static void start() {
    a = replica(3);
    b = replica(3);
  }

  @AfterAll
  static void stop() {
    a.app.close();
    b.app.close();
  }

  @Test
  void theWholeFlowOnRedis() {
    ProgrammaticToolCallingTest.flow(a);
  }

  @Test
  void aRunStartedOnOneReplicaContinuesOnTheOther() {
    JsonNode r =
        post(a, TestServer.KEY, null, python("x = await t(i=1)\nprint(x, await t(i=2))\n", "t"))
            .json();
    List<Map<String, Object>> first = List.of(result(r.at("/tool_calls/0"), "one"));
    TestServer.Reply next = post(b, TestServer.KEY, null, continuation(r, first));
    assertEquals(200, next.status(), next.body());
    JsonNode second = next.json();
    assertEquals("tool_call_required", second.get("status").asText(), next.body());
    // The token B took is used for A too.
    Errors.assertError(
        post(a, TestServer.KEY, null, continuation(r, first)), 409, "resource_conflict");
    TestServer.Reply end =
        post(
            a,
            TestServer.KEY,
            null,
            continuation(second, List.of(result(second.at("/tool_calls/0"), "two"))));
    assertEquals(200, end.status(), end.body());
    assertEquals("completed", end.json().get("status").asText(), end.body());
    assertEquals("one two\n", end.json().get("stdout").asText());
  }

  @Test
  void aBatchLeftUnansweredEndsTheRunAndALateContinuationGetsItsEnd() throws InterruptedException {
    JsonNode r = post(a, TestServer.KEY, null, python("await t()\nprint('never')\n", "t")).json();
    assertEquals("tool_call_required", r.get("status").asText(), r.toString());
    // Results for another call are refused (409, the token stays good) until the run has ended.
    Map<String, Object> wrong = new HashMap<>();
    wrong.put("call_id", "call_999");
    wrong.put("result", 1);
    TestServer.Reply[] late = new TestServer.Reply[1];
    Eventually.await(
        "the unanswered run is ended",
        Duration.ofSeconds(30),
        () -> {
          late[0] = post(b, TestServer.KEY, null, continuation(r, List.of(wrong)));
          return late[0].status() != 409;
        });
    // The client's tools outlasted PTC_CONTINUATION_TIMEOUT_SECONDS: its late continuation gets the
    // run's end (whatever its results, the run is over), once, on either replica.
    assertEquals(200, late[0].status(), late[0].body());
    assertEquals("error", late[0].json().path("status").asText(), late[0].body());
    assertEquals(
        "Execution failed or timed out", late[0].json().path("error").asText(), late[0].body());
    Errors.assertError(
        post(a, TestServer.KEY, null, continuation(r, List.of(result(r.at("/tool_calls/0"), 1)))),
        404,
        "resource_not_found");
  }

  /**
   * A run waiting on A for its session (held by another run of it) is cancelled through B: it ends
   * as cancelled when it gets its sandbox, before its code starts.
   */
  @Test
  void aRunWaitingOnOneReplicaIsCancelledThroughTheOther() throws Exception {
    JsonNode holder = post(a, TestServer.KEY, null, python("await t()\n", "t")).json();
    assertEquals("tool_call_required", holder.get("status").asText(), holder.toString());
    Map<String, Object> body = python("print('never')\nawait t()\n", "t");
    body.put("session_id", holder.get("session_id").asText());
    String id = "req-repl-" + System.nanoTime();
    CompletableFuture<TestServer.Reply> waiting =
        CompletableFuture.supplyAsync(() -> post(a, TestServer.KEY, id, body));
    Eventually.await(
        "the waiting run cancelled through the other replica",
        Duration.ofSeconds(30),
        () -> {
          assertEquals(404, ProgrammaticToolCallingTest.cancel(b, TestServer.KEY2, id));
          return ProgrammaticToolCallingTest.cancel(b, TestServer.KEY, id) == 200;
        });
    // The holder's unanswered batch ends it (PTC_CONTINUATION_TIMEOUT_SECONDS), freeing the
    // session.
    TestServer.Reply ended = waiting.get(60, TimeUnit.SECONDS);
    assertEquals(200, ended.status(), ended.body());
    assertEquals("Execution cancelled", ended.json().path("error").asText(), ended.body());
    assertFalse(ended.json().get("stdout").asText().contains("never"), ended.body());
    assertEquals(404, ProgrammaticToolCallingTest.cancel(b, TestServer.KEY, id), "ended");
  }

  /**
   * A run whose client never comes back counts once, as a timeout, in usage (on the shared Redis:
   * either replica reads it) and in the execution metrics of the replica that ran it, when its
   * unanswered batch ends it: no request of the client sees that end.
   */
  @Test
  void aRunLeftWithoutItsResultsCountsOnceWhenItTimesOut() throws InterruptedException {
    JsonNode created =
        AdminApiTest.adminJson(a, "POST", "/api/v1/admin/keys", "{\"name\":\"ptc idle\"}").json();
    String key = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();
    double before = timeouts(a);
    JsonNode r = post(a, key, null, python("await t()\n", "t")).json();
    assertEquals("tool_call_required", r.get("status").asText(), r.toString());
    Eventually.await(
        "the run that timed out in usage",
        Duration.ofSeconds(30),
        () -> ProgrammaticToolCallingTest.usageTotals(b, hash).get("executions").asInt() == 1);
    JsonNode totals = ProgrammaticToolCallingTest.usageTotals(b, hash);
    assertEquals(1, totals.get("timeout_count").asInt(), totals.toString());
    assertEquals(before + 1, timeouts(a), "in the metrics of the replica that ran it");
    ProgrammaticToolCallingTest.assertEndedOnce(a, key, r, "Execution failed or timed out");
    assertEquals(
        1,
        ProgrammaticToolCallingTest.usageTotals(a, hash).get("executions").asInt(),
        "counted once");
  }

  /** The py executions that timed out, in {@code s}'s metrics. */
  private static double timeouts(TestServer s) {
    TestServer.Reply m = s.send(AdminApiTest.admin(s, "/metrics"));
    assertEquals(200, m.status(), m.body());
    Matcher found =
        Pattern.compile(
                "(?m)^kubecoderun_executions_seconds_count\\{language=\"py\",outcome=\"timeout\"\\}"
                    + " ([0-9.eE+-]+)$")
            .matcher(m.body());
    return found.find() ? Double.parseDouble(found.group(1)) : 0;
  }

  /**
   * Redis stops while a batch is out: the continuation is a 503 with Retry-After that leaves the
   * token good, and once Redis is back the same continuation carries the run on to its end.
   */
  @Test
  void aContinuationWhileRedisIsDownIsA503AndTheRunGoesOnAfter() {
    TestServer c = replica(120); // a batch outlasts the outage
    try {
      JsonNode r = post(c, TestServer.KEY, null, python("print(await t())\n", "t")).json();
      assertEquals("tool_call_required", r.get("status").asText(), r.toString());
      List<Map<String, Object>> results = List.of(result(r.at("/tool_calls/0"), "back"));
      RedisServer redis = RedisServer.shared();
      redis.stop();
      try {
        TestServer.Reply down = post(c, TestServer.KEY, null, continuation(r, results));
        Errors.assertError(down, 503, "service_unavailable");
        assertNotNull(down.header("Retry-After"), "a 503 says when to retry");
      } finally {
        redis.start();
      }
      TestServer.Reply end = post(c, TestServer.KEY, null, continuation(r, results));
      assertEquals(200, end.status(), end.body());
      assertEquals("completed", end.json().get("status").asText(), end.body());
      assertEquals("back\n", end.json().get("stdout").asText(), end.body());
    } finally {
      c.app.close();
    }
  }
}
