package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.session.LocalSessionLocks;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The continuations of runs that ended without their results, against the in-memory store and, for
 * the runner, a stand-in (a JDK HttpServer) whose run has ended: what the client is answered. What
 * a start the slots refuse leaves in the store. And the memory budget's account of a run's first
 * batch, from its owner to the request that starts the run.
 */
class ProgrammaticServiceTest {
  private static final String TOKEN = "ab".repeat(32);
  private static final String END =
      "{\"language\":\"py\",\"duration_ms\":1,\"body\":{\"status\":\"error\","
          + "\"error\":\"Execution failed or timed out\",\"session_id\":\"s1\",\"stdout\":\"\","
          + "\"stderr\":\"\"}}";

  private final LocalProgrammaticStore store = new LocalProgrammaticStore();
  private final ProgrammaticService service =
      new ProgrammaticService(
          null, store, WebClient.builder().build(), Duration.ofSeconds(1), Duration.ofSeconds(5));
  private HttpServer runner;

  /** The stand-in runner's answer (200) to /ptc/continue; null: 410, its run has ended. */
  private volatile String continueAnswer;

  /** The /ptc/continue calls the stand-in runner got. */
  private final java.util.concurrent.atomic.AtomicInteger continues =
      new java.util.concurrent.atomic.AtomicInteger();

  /** When set, the stand-in runner's status for /ptc/continue, without a body. */
  private volatile int continueStatus;

  @BeforeEach
  void startRunner() throws IOException {
    // A runner whose run has ended: it no longer takes results.
    runner = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    runner.createContext(
        "/ptc/continue",
        ex -> {
          ex.getRequestBody().readAllBytes();
          continues.incrementAndGet();
          String answer = continueAnswer;
          if (continueStatus != 0) {
            ex.sendResponseHeaders(continueStatus, -1);
          } else if (answer == null) {
            ex.sendResponseHeaders(410, -1);
          } else {
            byte[] body = answer.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, body.length);
            ex.getResponseBody().write(body);
          }
          ex.close();
        });
    runner.createContext(
        "/ptc/cancel",
        ex -> {
          ex.getRequestBody().readAllBytes();
          ex.sendResponseHeaders(204, -1);
          ex.close();
        });
    runner.start();
  }

  @AfterEach
  void stopRunner() {
    runner.stop(0);
  }

  private ProgrammaticService.Reply resume(String principal) throws InterruptedException {
    return service.resume(principal, null, TOKEN, List.of(), Room.NONE);
  }

  /**
   * The run ended while its batch was out (unanswered past PTC_CONTINUATION_TIMEOUT_SECONDS: its
   * owner deleted its record, then stored its end): the late continuation gets that end, once, not
   * a 404 that would have the client's model run the whole program, and its tools, again.
   */
  @Test
  void aLateContinuationOfARunThatEndedWithoutItGetsItsEndOnce() throws InterruptedException {
    store.putToken(TOKEN, new ProgrammaticStore.Token("e1", "alice"), Duration.ofMinutes(1));
    store.putFinal("e1", END, Duration.ofMinutes(1));

    assertThrows(ProgrammaticService.UnknownContinuationException.class, () -> resume("bob"));
    ProgrammaticService.Done end =
        assertInstanceOf(ProgrammaticService.Done.class, resume("alice"));
    assertEquals("error", end.body().get("status"));
    assertEquals("Execution failed or timed out", end.body().get("error"));
    assertEquals("s1", end.body().get("session_id"));
    // Single use: the second use is unknown, as any use of a token of an ended run was.
    assertThrows(ProgrammaticService.UnknownContinuationException.class, () -> resume("alice"));
  }

  /** A token the runner took results for before the run ended is not answered the end again. */
  @Test
  void aTokenUsedBeforeItsRunEndedStaysUnknown() {
    store.putToken(TOKEN, new ProgrammaticStore.Token("e1", "alice"), Duration.ofMinutes(1));
    assertEquals(true, store.consume(TOKEN, Duration.ofMinutes(1)));
    store.putFinal("e1", END, Duration.ofMinutes(1));
    assertThrows(ProgrammaticService.UnknownContinuationException.class, () -> resume("alice"));
  }

  /** A token never issued is unknown, whatever the store holds of runs. */
  @Test
  void aTokenNeverIssuedIsUnknown() {
    store.putFinal("e1", END, Duration.ofMinutes(1));
    assertThrows(ProgrammaticService.UnknownContinuationException.class, () -> resume("alice"));
  }

  /**
   * The runner says the run ended (410) but its end never reaches the store (its owner could not
   * store it): the continuation is a 503, not an answer it cannot give, and the token stays good.
   */
  @Test
  void aRunnerThatSaysTheRunEndedWithNoEndStoredIsUnavailable() throws InterruptedException {
    store.putToken(TOKEN, new ProgrammaticStore.Token("e1", "alice"), Duration.ofMinutes(1));
    store.putExecution(
        "e1",
        new ProgrammaticStore.Execution(
            "alice", "http://127.0.0.1:" + runner.getAddress().getPort(), "t0ken", "s1", null),
        Duration.ofMinutes(1));
    ExecutionUnavailableException e =
        assertThrows(ExecutionUnavailableException.class, () -> resume("alice"));
    assertEquals(ExecutionUnavailableException.Reason.SANDBOX_FAILED, e.reason());
    assertFalse(store.used(TOKEN), "the token stays good");
    // Its end once stored, the same continuation gets it.
    store.putFinal("e1", END, Duration.ofMinutes(1));
    ProgrammaticService.Done end =
        assertInstanceOf(ProgrammaticService.Done.class, resume("alice"));
    assertEquals("Execution failed or timed out", end.body().get("error"));
  }

  /** A run of the stand-in runner, registered with the one tool {@code get_number}. */
  private void runOfOneTool() {
    store.putToken(TOKEN, new ProgrammaticStore.Token("e1", "alice"), Duration.ofMinutes(1));
    store.putExecution(
        "e1",
        new ProgrammaticStore.Execution(
            "alice",
            "http://127.0.0.1:" + runner.getAddress().getPort(),
            "t0ken",
            "s1",
            List.of("get_number")),
        Duration.ofMinutes(1));
  }

  /**
   * A runner that answers a continuation outside its protocol (not JSON, {@code null}, a batch of
   * no calls, a call of a tool the run never registered: on Kubernetes user code shares the
   * runner's uid and could stand in for it) is a sandbox failure, a 503 that says so: not a store's
   * failure, not a 500, and the client is never asked to run a tool it did not register. A status
   * the protocol does not have is one too (not taken for an end that never comes). The token stays
   * good: the run is cancelled, and the client's retry gets its end, not a 404 that LibreChat's
   * client takes for "run the whole program, and its tools, again".
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "not JSON",
        "null",
        "{\"status\":\"tool_call_required\",\"tool_calls\":[]}",
        "{\"status\":\"tool_call_required\",\"tool_calls\":"
            + "[{\"id\":\"call_002\",\"name\":\"delete_account\",\"input\":{}}]}",
        "{\"status\":\"running\"}",
        "{}"
      })
  void aContinuationAnsweredOutsideTheProtocolIsASandboxFailure(String answer)
      throws InterruptedException {
    runOfOneTool();
    continueAnswer = answer;
    long began = System.nanoTime();
    ExecutionUnavailableException e =
        assertThrows(ExecutionUnavailableException.class, () -> resume("alice"));
    assertEquals(ExecutionUnavailableException.Reason.SANDBOX_FAILED, e.reason());
    assertTrue(
        Duration.ofNanos(System.nanoTime() - began).compareTo(Duration.ofSeconds(5)) < 0,
        "answered at once, not after waiting for an end");
    assertFalse(store.used(TOKEN), "the token stays good");

    // The cancelled run's owner deletes its record and stores its end: the retry gets that end.
    store.deleteExecution("e1");
    store.putFinal("e1", END, Duration.ofMinutes(1));
    ProgrammaticService.Done end =
        assertInstanceOf(ProgrammaticService.Done.class, resume("alice"));
    assertEquals("Execution failed or timed out", end.body().get("error"));
    assertThrows(ProgrammaticService.UnknownContinuationException.class, () -> resume("alice"));
  }

  /**
   * Results the runner refuses (409: not the batch's call ids) leave the token good, so a client
   * may send them again and again, each time under a new X-LibreChat-Code-Request-ID: the ids of
   * refused requests are not kept, only while the results are out (a cancel finds the run then).
   */
  @Test
  void theRequestIdsOfRefusedContinuationsAreNotKept() {
    runOfOneTool();
    continueStatus = 409;
    int before = store.size();
    for (int i = 0; i < 1_000; i++) {
      String requestId = "req-" + i;
      assertThrows(
          ProgrammaticService.StaleContinuationException.class,
          () -> service.resume("alice", requestId, TOKEN, List.of(), Room.NONE));
    }
    assertEquals(before, store.size());
    assertFalse(store.used(TOKEN), "the token stays good");
    // Accepted, a continuation's request id is kept: a cancel by it finds the run.
    continueStatus = 0;
    continueAnswer =
        "{\"status\":\"tool_call_required\",\"tool_calls\":"
            + "[{\"id\":\"call_002\",\"name\":\"get_number\",\"input\":{}}]}";
    assertInstanceOf(
        ProgrammaticService.ToolCallsRequired.class,
        assertDoesNotThrow(() -> service.resume("alice", "req-ok", TOKEN, List.of(), Room.NONE)));
    assertEquals(java.util.Optional.of("e1"), store.request("alice", "req-ok"));
  }

  /**
   * A start the slots refuse (busy: none is free) never ran: its request id is not kept either,
   * each refused start under a new X-LibreChat-Code-Request-ID would pile up in the store.
   */
  @Test
  void theRequestIdsOfRefusedStartsAreNotKept(@TempDir Path dir) {
    try (SandboxPool pool = LocalExecutions.noSandboxes()) {
      ExecutionService executions =
          LocalExecutions.service(
              dir,
              pool,
              new ExecutionSlots(0, Duration.ZERO),
              new LocalSessionLocks(),
              new MemoryBudget(64 << 20));
      ProgrammaticService starts =
          new ProgrammaticService(
              executions,
              store,
              WebClient.builder().build(),
              Duration.ofSeconds(1),
              Duration.ofSeconds(5));
      ProgrammaticService.Recorder recorder =
          new ProgrammaticService.Recorder() {
            @Override
            public void ended(String language, String outcome, long nanos) {}

            @Override
            public void failed(String language, long nanos, RuntimeException e) {}
          };
      int before = store.size();
      for (int i = 0; i < 100; i++) {
        ExecCommand command =
            new ExecCommand(
                Principal.apiKey("alice-key-0123456789"),
                Language.PY,
                "print(1)",
                List.of(),
                null,
                null,
                null,
                List.of());
        ProgrammaticService.Start start =
            new ProgrammaticService.Start(
                "req-" + i, command, List.of("get_number"), Duration.ofSeconds(5));
        ExecutionUnavailableException e =
            assertThrows(
                ExecutionUnavailableException.class,
                () -> starts.start(start, recorder, reply -> {}));
        assertEquals(ExecutionUnavailableException.Reason.SLOTS_BUSY, e.reason());
      }
      assertEquals(before, store.size());
    }
  }

  /** A batch that calls a registered tool is the client's to run. */
  @Test
  void aContinuationAnsweredWithARegisteredToolIsANewBatch() throws InterruptedException {
    runOfOneTool();
    continueAnswer =
        "{\"status\":\"tool_call_required\",\"tool_calls\":"
            + "[{\"id\":\"call_002\",\"name\":\"get_number\",\"input\":{\"x\":2}}]}";
    ProgrammaticService.ToolCallsRequired next =
        assertInstanceOf(ProgrammaticService.ToolCallsRequired.class, resume("alice"));
    assertEquals("get_number", next.calls().get(0).name());
    assertEquals("s1", next.sessionId());
  }

  /**
   * A continuation whose answer the budget can never pay for in full (2 MiB, against 4.25 MiB for
   * the largest answer /ptc/continue may send) is refused before its results reach the runner, not
   * read on room it was not given; its token stays good.
   */
  @Test
  void aContinuationTheBudgetCanNeverPayForIsRefusedBeforeTheRunnerGetsItsResults() {
    runOfOneTool();
    continueAnswer =
        "{\"status\":\"tool_call_required\",\"tool_calls\":"
            + "[{\"id\":\"call_002\",\"name\":\"get_number\",\"input\":{\"x\":2}}]}";
    MemoryBudget.Held small = new MemoryBudget(2 << 20).hold();
    assertThrows(
        MemoryBudgetExhaustedException.class,
        () -> service.resume("alice", null, TOKEN, List.of(), small));
    assertEquals(0, continues.get(), "the runner never got the results");
    assertFalse(store.used(TOKEN), "the token stays good");
  }

  /**
   * The owner reads a run's first batch on the run's share of the memory budget and hands it to the
   * request that started the run, which builds and sends its answer from it: the room stays held
   * until that answer is sent (or could not be), not only until the hand-over.
   */
  @Test
  void theFirstBatchStaysPaidForUntilTheStartHasSentItsAnswer() throws Exception {
    MemoryBudget budget = new MemoryBudget(16 << 20);
    MemoryBudget.Held run = budget.hold();
    Room.Counted held = new Room.Counted(run);
    ProgrammaticService.Answer calls =
        f -> new ProgrammaticService.ToolCallsRequired(f.sessionId(), TOKEN, List.of());

    CompletableFuture<ProgrammaticService.First> first = new CompletableFuture<>();
    ProgrammaticService.handFirst(first, batch(held, 4 << 20));
    assertEquals(4 << 20, budget.held(), "handed over, still paid for");
    long[] whileSent = new long[1];
    ProgrammaticService.sendFirst(first.get(), calls, reply -> whileSent[0] = budget.held());
    assertEquals(4 << 20, whileSent[0], "paid for while its answer is sent");
    assertEquals(0, budget.held(), "given back once sent");

    // An answer that could not be sent gives it back all the same.
    CompletableFuture<ProgrammaticService.First> failed = new CompletableFuture<>();
    ProgrammaticService.handFirst(failed, batch(held, 1 << 20));
    assertThrows(
        IllegalStateException.class,
        () ->
            ProgrammaticService.sendFirst(
                failed.get(),
                calls,
                reply -> {
                  throw new IllegalStateException("the client is gone");
                }));
    assertEquals(0, budget.held());

    // No request to take it: given back at once.
    CompletableFuture<ProgrammaticService.First> taken = new CompletableFuture<>();
    taken.cancel(false);
    ProgrammaticService.handFirst(taken, batch(held, 1 << 20));
    assertEquals(0, budget.held());
    assertEquals(0, held.reserved());
  }

  /** A first batch whose reading took {@code bytes} of {@code run}'s room. */
  private static ProgrammaticService.First batch(Room run, long bytes) {
    Room.Counted room = new Room.Counted(run);
    room.reserve(bytes);
    return new ProgrammaticService.First(
        new ProgrammaticService.RunnerReply("tool_call_required", List.of()), "s1", room);
  }
}
