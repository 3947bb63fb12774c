package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.testing.Eventually;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Runs draw on the memory budget too (REQUEST_MEMORY_BUDGET_MB=24): a run holds what its state and
 * its runner's answer cost while it runs, gives it all back when it is over, and a run that would
 * go past the budget waits for room, or fails with a 503 that loses nothing. A state larger than
 * the budget keeps (under 1 MiB here, ExecutionService.maxStateBytes) is not kept: its run is
 * answered, with a note.
 */
@Tag("integration")
class RunMemoryBudgetTest {
  private static final long MIB = 1 << 20;

  /** A Python state of a little over 4 MiB (random bytes: nothing shrinks them). */
  private static final String BIG_STATE = "import os\nx = os.urandom(4 << 20)\ndel os";

  /** A state of a little over 2 MiB: a run of it holds 10 MiB while it runs (5 times it). */
  private static final String HALF_STATE = "import os\nx = os.urandom(2 << 20)\ndel os";

  /** The most of stdout, and of stderr, kept: small, so that this budget keeps some state. */
  private static final int MAX_OUTPUT = 256 << 10;

  private static TestServer server;

  @BeforeAll
  static void start() {
    server =
        TestServer.start(
            Map.of(
                "REQUEST_MEMORY_BUDGET_MB",
                "24",
                "POD_POOL_PY",
                "2",
                "MAX_OUTPUT_SIZE",
                Integer.toString(MAX_OUTPUT),
                "MAX_EXECUTION_TIME", // a run holding the budget outlasts two refused ones
                "60"),
            "0");
  }

  @AfterAll
  static void stop() {
    server.app.close();
  }

  private static double held() {
    return server.gauge("kubecoderun_request_memory_held_bytes");
  }

  private static TestServer.Reply run(String sid, String code) {
    return server.exec(
        sid == null
            ? Map.of("lang", "py", "code", code)
            : Map.of("lang", "py", "code", code, "session_id", sid));
  }

  /** A new session whose state {@code code} made. */
  private static String session(String code) {
    TestServer.Reply r = run(null, code);
    assertEquals(200, r.status(), r.body());
    JsonNode json = r.json();
    assertEquals("ok", json.path("status").asText(), r.body());
    return json.path("session_id").asText();
  }

  /**
   * A new session holding the state {@code code} makes, larger than this server's runs keep: made
   * on the shared server, whose budget keeps it, and uploaded here (an upload is bounded by
   * STATE_MAX_SIZE_MB alone), where a run loads it and holds what it costs.
   */
  private static String uploaded(String code) {
    TestServer maker = TestServer.get();
    TestServer.Reply made = maker.exec("py", code);
    assertEquals(200, made.status(), made.body());
    assertTrue(made.json().path("has_state").asBoolean(), made.body());
    TestServer.Reply state = maker.get("/state/" + made.json().path("session_id").asText());
    assertEquals(200, state.status(), state.body());
    String sid = "budget-" + UUID.randomUUID();
    TestServer.Reply up =
        server.send(
            server
                .request("/state/" + sid)
                .header("Content-Type", "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(state.raw().body())));
    assertEquals(201, up.status(), up.body());
    return sid;
  }

  /**
   * A run of {@code sid} that holds its 4 MiB state's cost (5 times it) for as long as its code
   * runs: {@code seconds}, long enough for the test to act while it does (the test waits for
   * conditions, never for this time). It drops the state at its end, so its answer is small.
   */
  private static CompletableFuture<TestServer.Reply> holding(String sid, int seconds)
      throws InterruptedException {
    CompletableFuture<TestServer.Reply> run =
        CompletableFuture.supplyAsync(
            () -> run(sid, "import time\ntime.sleep(" + seconds + ")\ndel x\nprint('held')"));
    Eventually.await(
        "the run to hold its loaded state", Duration.ofSeconds(60), () -> held() >= 20 * MIB);
    return run;
  }

  @Test
  void aRunHoldsItsStateWhileItRunsAndARunThatNeedsMoreWaitsForItThenGetsItsStateWhole()
      throws Exception {
    String first = uploaded(BIG_STATE);
    String second = uploaded(HALF_STATE);
    assertEquals(0, held(), "a run over holds nothing");
    // 5 s: time to see the second run wait, well within its 10 s wait for room.
    CompletableFuture<TestServer.Reply> running = holding(first, 5);
    CompletableFuture<TestServer.Reply> waiting =
        CompletableFuture.supplyAsync(() -> run(second, "print(len(x))"));
    Eventually.await(
        "the second run to wait for room",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_request_memory_waiting") == 1);
    assertFalse(waiting.isDone());
    TestServer.Reply r = running.get(60, TimeUnit.SECONDS);
    assertEquals(200, r.status(), r.body());
    assertEquals("held\n", r.json().path("stdout").asText());
    TestServer.Reply w = waiting.get(60, TimeUnit.SECONDS);
    assertEquals(200, w.status(), w.body());
    assertEquals(Integer.toString(2 << 20) + "\n", w.json().path("stdout").asText(), w.body());
    Eventually.await(
        "every reservation to be given back", Duration.ofSeconds(30), () -> held() == 0);
  }

  /**
   * A run whose answer costs 12 MiB (stdout and stderr full of a control character, 6 bytes of JSON
   * each), past the ~4 MiB a run holding BIG_STATE leaves, for the 10 s wait for room.
   */
  private static TestServer.Reply runWithALargeAnswer(String sid) {
    return run(
        sid,
        "import sys\ny = 2\nsys.stdout.write('\\x01' * "
            + MAX_OUTPUT
            + ")\nsys.stderr.write('\\x01' * "
            + MAX_OUTPUT
            + ")");
  }

  private static void assertRefusedForRoom(TestServer.Reply refused) {
    assertEquals(503, refused.status(), refused.body());
    assertEquals("1", refused.header("Retry-After"));
    assertEquals("service_unavailable", refused.json().path("error_type").asText());
  }

  /**
   * Refused for room, a run changes nothing: a session's state stays as it was, and a session made
   * for the run (an id its client chose) goes, as one refused for want of a slot does.
   */
  @Test
  void aRunWhoseAnswerFindsNoRoomFailsWithA503AndItsSessionKeepsItsState() throws Exception {
    String big = uploaded(BIG_STATE);
    String small = session("y = 1");
    String fresh = "budget-new-" + UUID.randomUUID();
    // 30 s: past the refused runs' 10 s wait (side by side, one in a sandbox made for it), with
    // room to spare on a busy machine.
    CompletableFuture<TestServer.Reply> running = holding(big, 30);
    CompletableFuture<TestServer.Reply> inANewSession =
        CompletableFuture.supplyAsync(() -> runWithALargeAnswer(fresh));
    TestServer.Reply refused = runWithALargeAnswer(small);
    TestServer.Reply refusedInANewSession = inANewSession.get(60, TimeUnit.SECONDS);
    assertFalse(running.isDone(), "refused while the other run held the budget");
    assertRefusedForRoom(refused);
    assertRefusedForRoom(refusedInANewSession);
    Eventually.await(
        "the refused runs' slots to be free",
        Duration.ofSeconds(30),
        () -> server.gauge("kubecoderun_execution_slots_in_use") == 1);
    assertEquals(200, running.get(60, TimeUnit.SECONDS).status());
    TestServer.Reply after = run(small, "print(y)");
    assertEquals(200, after.status(), after.body());
    assertEquals("1\n", after.json().path("stdout").asText(), "the session's state as it was");
    // Another tenant may take the id only if no session of it is left.
    TestServer.Reply other =
        server
            .withKey(TestServer.KEY2)
            .upload("mine.txt", new byte[] {'m'}, Map.of("session_id", fresh));
    assertEquals(200, other.status(), fresh + " was kept: " + other.body());
    Eventually.await(
        "every reservation to be given back", Duration.ofSeconds(30), () -> held() == 0);
  }

  /**
   * A run whose state is larger than the budget keeps (6 MiB: an answer carrying it would cost 32
   * MiB, more than the whole budget) is answered, its output whole, with a note that the state was
   * not kept; the session's state is gone, the one from before that run too, so the next run starts
   * without variables (as the note says) rather than with those of an older run.
   */
  @Test
  void aStateLargerThanTheBudgetKeepsIsNotKeptAndItsRunIsAnswered() {
    String sid = session("y = 1");
    TestServer.Reply large = run(sid, "import os\nx = os.urandom(6 << 20)\ndel os\nprint('made')");
    assertEquals(200, large.status(), large.body());
    JsonNode json = large.json();
    assertEquals("made\n", json.path("stdout").asText(), large.body());
    assertFalse(json.path("has_state").asBoolean(), large.body());
    String stderr = json.path("stderr").asText();
    // 6.1: the state rounded up; 0.7: (24 MiB - 4 * 4 MiB for the outputs) * 3 / 31, rounded down.
    assertTrue(
        stderr.contains(
            "[kubecoderun] not kept for the next run: the Python state (6.1 MiB) is larger than"
                + " the 0.7 MiB this deployment keeps; the next run starts without variables"),
        stderr);
    TestServer.Reply next = run(sid, "print('x' in globals(), 'y' in globals())");
    assertEquals(200, next.status(), next.body());
    assertEquals("False False\n", next.json().path("stdout").asText(), next.body());
  }

  /**
   * A continuation asks for room for the runner's answer before it sends its results: refused, it
   * is a 503 whose token stays good (the runner never saw the results), and the same continuation
   * goes through once there is room.
   */
  @Test
  void aContinuationShortOfRoomIsRefusedBeforeItsResultsGoAndItsTokenStaysGood() throws Exception {
    JsonNode batch =
        ProgrammaticToolCallingTest.start(
            server,
            ProgrammaticToolCallingTest.python(
                "n = await get_number(x=2)\nprint(n)", "get_number"));
    ProgrammaticToolCallingTest.assertToolCalls(batch, "get_number");
    Object continuation =
        ProgrammaticToolCallingTest.continuation(
            batch, List.of(ProgrammaticToolCallingTest.result(batch.at("/tool_calls/0"), 42)));
    String big = uploaded(BIG_STATE);
    // 25 s: past the refused continuation's 10 s wait, with room to spare on a busy machine.
    CompletableFuture<TestServer.Reply> running = holding(big, 25);
    TestServer.Reply refused =
        ProgrammaticToolCallingTest.post(server, TestServer.KEY, null, continuation);
    assertFalse(running.isDone(), "refused while the other run held the budget");
    assertEquals(503, refused.status(), refused.body());
    assertEquals("1", refused.header("Retry-After"));
    assertEquals(200, running.get(60, TimeUnit.SECONDS).status());
    TestServer.Reply done =
        ProgrammaticToolCallingTest.post(server, TestServer.KEY, null, continuation);
    assertEquals(200, done.status(), done.body());
    assertEquals("completed", done.json().path("status").asText(), done.body());
    assertEquals("42\n", done.json().path("stdout").asText(), done.body());
    Eventually.await(
        "every reservation to be given back", Duration.ofSeconds(30), () -> held() == 0);
  }
}
