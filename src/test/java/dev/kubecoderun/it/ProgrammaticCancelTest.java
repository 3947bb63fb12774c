package dev.kubecoderun.it;

import static dev.kubecoderun.it.ProgrammaticToolCallingTest.assertToolCalls;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.cancel;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.post;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.python;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.result;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.resume;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.start;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.testing.Eventually;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A cancel of a programmatic run the API accepted is honoured at every stage, also before the run
 * has its sandbox: on a server with one execution slot, a run waits for it while another holds it.
 */
@Tag("integration")
class ProgrammaticCancelTest {
  private static TestServer s;

  @BeforeAll
  static void startServer() {
    s = TestServer.start(Map.of("MAX_CONCURRENT_EXECUTIONS", "1"), "0");
  }

  @AfterAll
  static void stopServer() {
    s.app.close();
  }

  @Test
  void aRunWaitingForASlotIsCancelledAndReleasesWhatItHeld() throws Exception {
    String other = AdminApiTest.newApiKey(s, "ptc wait cancel");
    // The only slot is held by a run waiting for its tool's result.
    JsonNode holder = start(s, python("print(await t())\n", "t"));
    assertToolCalls(holder, "t");
    String id = "req-wait-" + System.nanoTime();
    CompletableFuture<TestServer.Reply> waiting =
        CompletableFuture.supplyAsync(
            () -> post(s, TestServer.KEY, id, python("print('never')\nawait t()\n", "t")));
    // Once the API has the run (its request id is known), it waits for the slot until cancelled.
    Eventually.await(
        "the waiting run cancelled by its owner",
        Duration.ofSeconds(30),
        () -> {
          assertEquals(404, cancel(s, other, id), "another key cannot cancel it");
          return cancel(s, TestServer.KEY, id) == 200;
        });
    // Cancelled again while it ends: the first cancel's outcome stands.
    int again = cancel(s, TestServer.KEY, id);
    assertTrue(again == 200 || again == 404, "a second cancel: " + again);
    // It ends as a cancelled running run does, while the other run still holds the slot.
    TestServer.Reply ended = waiting.get(30, TimeUnit.SECONDS);
    assertEquals(200, ended.status(), ended.body());
    assertEquals("error", ended.json().get("status").asText(), ended.body());
    assertEquals("Execution cancelled", ended.json().get("error").asText(), ended.body());
    assertFalse(ended.json().get("stdout").asText().contains("never"), ended.body());
    assertEquals(404, cancel(s, TestServer.KEY, id), "an ended run is not found");

    JsonNode end = resume(s, holder, List.of(result(holder.at("/tool_calls/0"), "held")));
    assertEquals("held\n", end.get("stdout").asText(), end.toString());
    awaitNothingHeld();
  }

  /**
   * Cancels sent as a run starts, at every moment of its start (the sandbox being handed over among
   * them): whenever the cancel lands, the run ends cancelled and holds nothing after.
   */
  @Test
  void aCancelAtAnyMomentOfTheStartLeavesNothingHeld() throws Exception {
    for (int i = 0; i < 20; i++) {
      String id = "req-race-" + i + "-" + System.nanoTime();
      CompletableFuture<TestServer.Reply> run =
          CompletableFuture.supplyAsync(
              () -> post(s, TestServer.KEY, id, python("await t()\nprint('never')\n", "t")));
      // Sent back to back from before the API has the run until one lands: the run, waiting for
      // its tool's result at the latest, is there to cancel until it is.
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (cancel(s, TestServer.KEY, id) != 200) {
        assertTrue(System.nanoTime() < deadline, "the run was never cancelled");
      }
      TestServer.Reply r = run.get(60, TimeUnit.SECONDS);
      assertEquals(200, r.status(), r.body());
      JsonNode reply = r.json();
      if ("tool_call_required".equals(reply.get("status").asText())) {
        // The cancel came after the first batch: its token answers the run's end, once.
        ProgrammaticToolCallingTest.assertEndedOnce(
            s, TestServer.KEY, reply, "Execution cancelled");
      } else {
        assertEquals("Execution cancelled", reply.get("error").asText(), r.body());
      }
      awaitNothingHeld();
    }
  }

  /**
   * Bash runs (bash has no pool: each run makes its sandbox) cancelled as they start: a cancel that
   * interrupts the run's owner while the jail makes its sandbox leaves no sandbox in the jail,
   * where nothing would ever end it and it would hold one of the jail's uids for good.
   */
  @Test
  void bashRunsCancelledWhileTheirSandboxIsMadeLeaveNoSandboxInTheJail() throws Exception {
    for (int i = 0; i < 30; i++) {
      String id = "req-bash-" + i + "-" + System.nanoTime();
      Map<String, Object> body = python("sleep 2\necho never\n", "t");
      body.put("lang", "bash");
      CompletableFuture<TestServer.Reply> run =
          CompletableFuture.supplyAsync(() -> post(s, TestServer.KEY, id, body));
      long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
      while (cancel(s, TestServer.KEY, id) != 200) {
        assertTrue(System.nanoTime() < deadline, "the run was never cancelled");
      }
      TestServer.Reply r = run.get(60, TimeUnit.SECONDS);
      assertEquals(200, r.status(), r.body());
      assertFalse(r.json().path("stdout").asText().contains("never"), r.body());
    }
    awaitNothingHeld();
    Eventually.await(
        "the jail's sandboxes to be the pool's warm ones",
        Duration.ofSeconds(30),
        () -> jailSandboxes() == s.app.pool().readyCount(Language.PY),
        () ->
            jailSandboxes()
                + " sandboxes in the jail, "
                + s.app.pool().readyCount(Language.PY)
                + " warm");
  }

  /** The sandboxes of the server's jail: their holders, one each. */
  private static long jailSandboxes() {
    String dir = s.dataDir.resolve("sandboxes").toString();
    ProcessHandle jail =
        ProcessHandle.allProcesses()
            .filter(
                p ->
                    p.info()
                        .commandLine()
                        .map(c -> c.contains(" jail ") && c.contains(dir) && !c.contains("__"))
                        .orElse(false))
            .findFirst()
            .orElseThrow();
    return SandboxHolders.among(jail.descendants()).count();
  }

  /** No slot and no sandbox in use: nothing of a cancelled run goes on. */
  private static void awaitNothingHeld() throws InterruptedException {
    Eventually.await(
        "no slot and no sandbox in use",
        Duration.ofSeconds(30),
        () -> {
          JsonNode pools = s.send(AdminApiTest.admin(s, "/api/v1/admin/pools")).json();
          boolean sandboxes = false;
          for (JsonNode p : pools.get("pools")) {
            sandboxes |= p.get("in_use").asInt() > 0;
          }
          return pools.at("/slots/in_use").asInt() == 0 && !sandboxes;
        },
        () -> s.send(AdminApiTest.admin(s, "/api/v1/admin/pools")).body());
  }
}
