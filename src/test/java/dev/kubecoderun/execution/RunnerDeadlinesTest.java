package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.files.LocalFileMetadataStore;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.sandbox.AbstractSandbox;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxFactory;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.session.LocalSessionLocks;
import dev.kubecoderun.testing.Eventually;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A runner that never finishes (it trickles a generated file, or answers "not yet" to every wait of
 * a programmatic run) costs a run no more than its deadline: the run ends as a sandbox failure near
 * it, its sandbox destroyed, its slot, session and memory given back. Against the in-memory stores
 * and a stand-in runner (a JDK HttpServer), as user code answering in the runner's place on
 * Kubernetes could.
 */
class RunnerDeadlinesTest {
  private static final Duration TRANSFER = LocalExecutions.TRANSFER;
  private static final String SESSION = "S-deadline-1";
  private static final Principal ALICE = Principal.apiKey("alice-key-0123456789");

  @TempDir Path dir;
  private HttpServer runner;
  private ExecutorService handlers;
  private final List<StandIn> sandboxes = new CopyOnWriteArrayList<>();
  private final LocalSessionLocks locks = new LocalSessionLocks();
  private final ExecutionSlots slots = new ExecutionSlots(2, Duration.ofSeconds(1));
  private final MemoryBudget memory = new MemoryBudget(64 << 20);
  private SandboxPool pool;
  private ExecutionService executions;

  /** A sandbox whose runner is the stand-in; closing it is all destroying it does. */
  private static final class StandIn extends AbstractSandbox {
    final AtomicBoolean closed = new AtomicBoolean();

    StandIn(String id, RunnerClient runner) {
      super(id, Language.BASH, runner);
    }

    @Override
    public boolean isAlive() {
      return !closed.get();
    }

    @Override
    public void onExit(Runnable callback) {}

    @Override
    public void close() {
      closed.set(true);
    }
  }

  @BeforeEach
  void start() throws IOException {
    runner = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    handlers = Executors.newCachedThreadPool();
    runner.setExecutor(handlers);
    runner.start();
    WebClient http = WebClient.builder().build();
    URI base = URI.create("http://127.0.0.1:" + runner.getAddress().getPort());
    SandboxFactory factory =
        new SandboxFactory() {
          @Override
          public Sandbox create(Language language, boolean warm) {
            StandIn s = new StandIn("s" + sandboxes.size(), new RunnerClient(http, base, "t0ken"));
            sandboxes.add(s);
            return s;
          }

          @Override
          public String name() {
            return "stand-in";
          }
        };
    pool = new SandboxPool(factory, l -> 0, 1, Duration.ofSeconds(1));
    executions = LocalExecutions.service(dir, pool, slots, locks, memory);
  }

  @AfterEach
  void stop() {
    pool.close();
    runner.stop(0);
    handlers.shutdownNow();
  }

  private static void answer(HttpExchange ex, int status, String body) throws IOException {
    ex.getRequestBody().readAllBytes();
    byte[] b = body.getBytes(StandardCharsets.UTF_8);
    ex.sendResponseHeaders(status, b.length);
    ex.getResponseBody().write(b);
    ex.close();
  }

  /** Answers 200, then a byte every 20 ms until the client goes away. */
  private static void trickle(HttpExchange ex) throws IOException {
    ex.sendResponseHeaders(200, 0);
    OutputStream out = ex.getResponseBody();
    try {
      while (true) {
        out.write('x');
        out.flush();
        Thread.sleep(20);
      }
    } catch (IOException | InterruptedException gone) {
      ex.close();
    }
  }

  private static ExecCommand run(String sessionId) {
    return new ExecCommand(
        ALICE, Language.BASH, "echo hi > out.txt", List.of(), sessionId, null, null, List.of());
  }

  /** Everything the run held is back: its slot, its session, its memory; its sandbox is gone. */
  private void assertAllReleased(String sessionId) throws InterruptedException {
    Eventually.await(
        "the sandbox destroyed",
        Duration.ofSeconds(10),
        () -> !sandboxes.isEmpty() && sandboxes.get(0).closed.get());
    assertEquals(0, slots.inUse(), "slots in use");
    assertEquals(0, memory.held(), "memory held");
    // The session is free for its next run: taken at once.
    locks.acquire(sessionId, Duration.ZERO).close();
  }

  /**
   * A generated file the runner trickles: the run ends once SANDBOX_TRANSFER_TIMEOUT_SECONDS has
   * passed on the files, a 503 saying so, rather than for as long as the pod lives.
   */
  @Test
  void aRunWhoseGeneratedFileTricklesEndsAtTheTransferDeadline() throws Exception {
    runner.createContext(
        "/execute",
        ex ->
            answer(
                ex,
                200,
                "{\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\",\"duration_ms\":1,"
                    + "\"files\":[{\"path\":\"out.txt\",\"size\":3,\"mtime\":1,"
                    + "\"change\":\"created\"}]}"));
    runner.createContext("/files/", RunnerDeadlinesTest::trickle);

    long began = System.nanoTime();
    ExecutionUnavailableException e =
        assertThrows(
            ExecutionUnavailableException.class,
            () -> onVirtualThread(() -> executions.execute(run(SESSION), null, null)));
    Duration took = Duration.ofNanos(System.nanoTime() - began);

    assertEquals(ExecutionUnavailableException.Reason.SANDBOX_FAILED, e.reason());
    assertTrue(e.getMessage().contains("did not finish sending a file within"), e.getMessage());
    assertTrue(took.compareTo(TRANSFER) >= 0, "ended before the deadline: " + took);
    assertTrue(took.compareTo(TRANSFER.multipliedBy(8)) < 0, "ended long after it: " + took);
    assertAllReleased(SESSION);
  }

  /**
   * A run whose first generated file is stored and whose second never finishes arriving: its answer
   * is the 503 of a sandbox failure, so the first file must not stay stored either, neither in the
   * session's listing (counted against MAX_SESSION_FILES, stored again by the client's retry) nor
   * as bytes.
   */
  @Test
  void aRunThatFailsAfterStoringAFileKeepsNoneOfItsFiles() throws Exception {
    runner.createContext(
        "/execute",
        ex ->
            answer(
                ex,
                200,
                "{\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\",\"duration_ms\":1,"
                    + "\"files\":[{\"path\":\"a.txt\",\"size\":2,\"mtime\":1,"
                    + "\"change\":\"created\"},{\"path\":\"b.txt\",\"size\":3,"
                    + "\"mtime\":1,\"change\":\"created\"}]}"));
    runner.createContext(
        "/files/",
        ex -> {
          if (ex.getRequestURI().getPath().endsWith("/a.txt")) {
            answer(ex, 200, "a\n");
          } else {
            trickle(ex);
          }
        });

    ExecutionUnavailableException e =
        assertThrows(
            ExecutionUnavailableException.class,
            () -> onVirtualThread(() -> executions.execute(run(SESSION), null, null)));

    assertEquals(ExecutionUnavailableException.Reason.SANDBOX_FAILED, e.reason());
    // Read back from what the stores wrote to disk.
    assertEquals(List.of(), new LocalFileMetadataStore(dir).list(SESSION), "files listed");
    assertEquals(
        List.of(),
        new LocalObjectStore(dir).list("sessions/" + SESSION + "/", null, 10),
        "objects stored");
    assertAllReleased(SESSION);
  }

  /**
   * A programmatic run whose runner answers every wait "not yet": the run ends once its budget is
   * spent (every batch waiting and every segment running its longest), not when the pod dies.
   */
  @Test
  void aProgrammaticRunThatNeverEndsIsEndedAtItsBudget() throws Exception {
    runner.createContext(
        "/execute",
        ex ->
            answer(
                ex,
                200,
                "{\"status\":\"tool_call_required\",\"tool_calls\":"
                    + "[{\"id\":\"c1\",\"name\":\"t\",\"input\":{}}]}"));
    runner.createContext(
        "/ptc/wait",
        ex -> {
          // "Not yet", after a short wait of its own (the runner's is 25 s).
          try {
            Thread.sleep(100);
          } catch (InterruptedException stopped) {
            ex.close();
            return;
          }
          answer(ex, 202, "{\"status\":\"running\"}");
        });
    Duration idle = Duration.ofMillis(50);
    Duration segment = Duration.ofMillis(50);
    ProgrammaticService programmatic =
        new ProgrammaticService(
            executions, new LocalProgrammaticStore(), WebClient.builder().build(), idle, segment);
    CompletableFuture<RuntimeException> failed = new CompletableFuture<>();
    ProgrammaticService.Recorder recorder =
        new ProgrammaticService.Recorder() {
          @Override
          public void ended(String language, String outcome, long nanos) {
            failed.completeExceptionally(new AssertionError("ended " + outcome));
          }

          @Override
          public void failed(String language, long nanos, RuntimeException e) {
            failed.complete(e);
          }
        };

    long began = System.nanoTime();
    CompletableFuture<ProgrammaticService.Reply> first = new CompletableFuture<>();
    onVirtualThread(
        () -> {
          programmatic.start(
              new ProgrammaticService.Start(null, run(SESSION), List.of("t"), segment),
              recorder,
              first::complete);
          return null;
        });
    assertInstanceOf(ProgrammaticService.ToolCallsRequired.class, first.get());

    RuntimeException e = failed.get(60, TimeUnit.SECONDS);
    Duration took = Duration.ofNanos(System.nanoTime() - began);
    ExecutionUnavailableException unavailable =
        assertInstanceOf(ExecutionUnavailableException.class, e);
    assertEquals(ExecutionUnavailableException.Reason.SANDBOX_FAILED, unavailable.reason());
    assertTrue(e.getMessage().contains("did not end the programmatic run within"), e.getMessage());
    Duration budget = programmatic.runBudget();
    assertTrue(took.compareTo(budget) >= 0, "ended before its budget: " + took);
    assertTrue(took.compareTo(budget.multipliedBy(2)) < 0, "ended long after it: " + took);
    assertAllReleased(SESSION);
  }

  @FunctionalInterface
  private interface Call<T> {
    T call() throws Exception;
  }

  /** Runs {@code call} on a virtual thread, as the service's requests are. */
  private static <T> T onVirtualThread(Call<T> call) throws Exception {
    CompletableFuture<T> result = new CompletableFuture<>();
    Thread.ofVirtual()
        .start(
            () -> {
              try {
                result.complete(call.call());
              } catch (Throwable e) {
                result.completeExceptionally(e);
              }
            });
    try {
      return result.get(60, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      if (e.getCause() instanceof Exception cause) {
        throw cause;
      }
      throw e;
    }
  }
}
