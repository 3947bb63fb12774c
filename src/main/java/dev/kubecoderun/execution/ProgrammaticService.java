package dev.kubecoderun.execution;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.common.RandomHex;
import dev.kubecoderun.config.SandboxUse;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.RunnerRequest;
import dev.kubecoderun.sandbox.RunnerResult;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxException;
import io.helidon.webclient.api.WebClient;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Programmatic tool calling (LibreChat's run_tools_with_code / run_tools_with_bash): the code calls
 * tools the client runs. The run goes through the usual /exec pipeline ({@link ExecutionService})
 * on an owner thread of the replica that started it, which holds the session, the slot and the
 * sandbox until the run ends; the runner keeps the program blocked while the client runs each batch
 * of calls. Continuations go straight to the runner (whose address the store holds), from any
 * replica; the owner stores the final answer for whichever replica answers the last continuation.
 */
public final class ProgrammaticService {
  private static final Logger LOG = Logger.getLogger(ProgrammaticService.class.getName());

  /** LibreChat's client gives up after this many tool_call_required answers. */
  public static final int MAX_ROUND_TRIPS = SandboxUse.PROGRAMMATIC_ROUND_TRIPS;

  private static final Duration FINAL_TTL = Duration.ofMinutes(10);
  private static final Duration MARGIN = Duration.ofSeconds(30);
  // How long a continuation that finds its run ended waits for the end its owner is storing.
  private static final Duration ENDED_WAIT = Duration.ofSeconds(5);
  // The same, when its run's record is gone: a cancel deletes it before the run winds down (the
  // code killed, its outputs stored), an idle timeout or a dead sandbox just before the end is
  // stored.
  private static final Duration GONE_WAIT = Duration.ofSeconds(30);

  /** A tool call of a batch: its id, the tool's registered name, its input. */
  public record Call(String id, String name, JsonNode input) {}

  /** What a programmatic request answers. */
  public sealed interface Reply permits ToolCallsRequired, Done {}

  /** The code waits for these calls' results; send them with {@code token}. */
  public record ToolCallsRequired(String sessionId, String token, List<Call> calls)
      implements Reply {}

  /** The run ended: {@code body} is the completed or error answer. */
  public record Done(Map<String, Object> body) implements Reply {}

  /**
   * What the owner stores for the replica that answers the end. {@code language} and {@code
   * durationMs} are no longer read (the owner counts the run); replicas of earlier versions read
   * them.
   */
  private record Final(
      String language, @JsonProperty("duration_ms") long durationMs, Map<String, Object> body) {}

  /** An unknown, expired or another principal's token or request id (shown as 404). */
  public static final class UnknownContinuationException extends RuntimeException {
    public UnknownContinuationException(String message) {
      super(message);
    }
  }

  /** A token used already, or results that are not those of the batch waiting (shown as 409). */
  public static final class StaleContinuationException extends RuntimeException {
    public StaleContinuationException(String message) {
      super(message);
    }
  }

  /** A request the runner refused (e.g. two tools with the same function name; shown as 400). */
  public static final class RefusedProgramException extends RuntimeException {
    public RefusedProgramException(String message) {
      super(message);
    }
  }

  /**
   * Where a run is counted (usage and the execution metrics): once per run given to {@link #start},
   * however it ends, when it ends. Its owner does it, since no request of the client may see the
   * end (a run cancelled, timed out waiting for results, or whose sandbox died while it waited).
   */
  public interface Recorder {
    /** The run ended: ok, error (the code failed, or the run was cancelled) or timeout. */
    void ended(String language, String outcome, long nanos);

    /** The run could not start, or could not end: {@code e} is why. */
    void failed(String language, long nanos, RuntimeException e);
  }

  /** A new programmatic run, validated. */
  public record Start(
      String requestId, ExecCommand command, List<String> tools, Duration segmentTimeout) {
    /** Whose the run and its tokens are: the command's principal. */
    String principal() {
      return command.principal().user();
    }
  }

  /** The runner's answer to a start or a continue: a batch, or the end. */
  record RunnerReply(String status, @JsonProperty("tool_calls") List<Call> toolCalls) {}

  /** Why the runner ended a run (absent: it ended on its own). */
  private record RunnerEnd(
      @JsonProperty("ptc_end") String end,
      @JsonProperty("ptc_detail") String detail,
      @JsonProperty("exit_code") int exitCode,
      @JsonProperty("timed_out") boolean timedOut) {}

  /**
   * The first answer, for the request that started the run. {@code room}: what reading it took of
   * the run's share of the memory budget, held until that request has sent its answer (the parsed
   * calls are in memory until then); null for an end, which the store holds.
   */
  record First(RunnerReply reply, String sessionId, Room.Counted room) {
    First(RunnerReply reply, String sessionId) {
      this(reply, sessionId, null);
    }

    void giveBackRoom() {
      if (room != null) {
        room.giveBackAll();
      }
    }
  }

  /**
   * The owner thread of a run of this replica that a request id can cancel, until the run has its
   * sandbox: a cancel interrupts it where it waits (session, slot, sandbox), and never after.
   */
  private static final class Owner {
    final boolean cancellable;
    private Thread thread;
    private boolean cancelled;
    private boolean handedOver;

    Owner(boolean cancellable) {
      this.cancellable = cancellable;
    }

    synchronized void started(Thread t) {
      thread = t;
      if (cancelled) {
        t.interrupt();
      }
    }

    /**
     * Interrupts the owner once, however many cancels come (the wait record answers each of them
     * until the hand-over): a second interrupt would break the clean-up the first one started (a
     * sandbox create abandoned and deleted, the session's lock freed).
     */
    synchronized void cancel() {
      if (cancelled) {
        return;
      }
      cancelled = true;
      if (thread != null && !handedOver) {
        thread.interrupt();
      }
    }

    /** From here on no cancel interrupts the owner (the store tells it whether it was one). */
    synchronized void handOver() {
      handedOver = true;
      Thread.interrupted();
    }

    /**
     * The run ends: no cancel interrupts the owner from here on (a second cancel would otherwise
     * break the store calls that end it). Returns whether the run had been handed over.
     */
    synchronized boolean finish() {
      boolean was = handedOver;
      handedOver = true;
      Thread.interrupted();
      return was;
    }
  }

  /** The run was cancelled before its code started. */
  private static final class CancelledWaitingException extends RuntimeException {
    CancelledWaitingException() {
      super("cancelled before it started", null, false, false);
    }
  }

  private final Map<String, Owner> waiting = new ConcurrentHashMap<>();
  private final ExecutionService executions;
  private final ProgrammaticStore store;
  private final WebClient http;
  private final Duration idleTimeout;
  private final Duration maxSegment;

  /**
   * @param idleTimeout how long a batch waits for its results before the run is killed
   *     (PTC_CONTINUATION_TIMEOUT_SECONDS)
   * @param maxSegment the longest a run may go on between tool calls (MAX_EXECUTION_TIME)
   */
  public ProgrammaticService(
      ExecutionService executions,
      ProgrammaticStore store,
      WebClient http,
      Duration idleTimeout,
      Duration maxSegment) {
    this.executions = executions;
    this.store = store;
    this.http = http;
    this.idleTimeout = idleTimeout;
    this.maxSegment = maxSegment;
  }

  public Duration maxSegment() {
    return maxSegment;
  }

  /**
   * A token is known as long as the end it may answer: its batch waits up to the idle timeout, the
   * run's end is kept {@link #FINAL_TTL} after (a client whose tools outlast the timeout gets that
   * end, not a 404).
   */
  private Duration tokenTtl() {
    return idleTimeout.plus(MARGIN).plus(FINAL_TTL);
  }

  /** The longest a run can last: every round trip waiting and running its longest. */
  private Duration executionTtl() {
    return runBudget().plus(FINAL_TTL);
  }

  /**
   * The longest the runner may take to end a run ({@link SandboxUse#programmatic}: the same the
   * Kubernetes deadlines are checked against).
   */
  Duration runBudget() {
    return SandboxUse.programmatic(idleTimeout, maxSegment);
  }

  /** How long one /ptc/wait may take: the runner answers 202 ("not yet") well within it. */
  private static final Duration WAIT_ROUND = Duration.ofSeconds(60);

  /**
   * Starts a run: hands its first batch of tool calls, or its end, to {@code send}, which answers
   * the request; what reading the batch took of the memory budget stays held until it returns. The
   * run is counted once in {@code recorder}: here when it cannot be handed to its owner, else by
   * the owner.
   */
  public void start(Start start, Recorder recorder, Consumer<Reply> send)
      throws InterruptedException {
    long began = System.nanoTime();
    String executionId = RandomHex.of(16);
    Owner owner = new Owner(start.requestId() != null);
    if (owner.cancellable) {
      // Waiting (here and in the store) before its request is known: a cancel finds the run, and
      // its owner, at every stage.
      waiting.put(executionId, owner);
      try {
        store.putWaiting(executionId, executionTtl());
        store.putRequest(start.principal(), start.requestId(), executionId, executionTtl());
      } catch (RuntimeException e) {
        waiting.remove(executionId);
        recorder.failed(start.command().language().code(), System.nanoTime() - began, e);
        throw e;
      }
    }
    CompletableFuture<First> first = new CompletableFuture<>();
    Thread.ofVirtual()
        .name("ptc-" + executionId)
        .start(() -> own(start, executionId, owner, first, recorder, began));
    First f;
    try {
      f = first.get();
    } catch (ExecutionException e) {
      // The run did not start (busy, refused): there is nothing of it to cancel, and a request id
      // kept for each refused start would pile up in the store for as long as a run may last.
      if (owner.cancellable) {
        forgetRequest(start.principal(), start.requestId(), executionId);
      }
      if (e.getCause() instanceof RuntimeException r) {
        throw r;
      }
      throw new IllegalStateException(e.getCause());
    }
    sendFirst(f, x -> answer(x.reply(), executionId, start.principal(), x.sessionId()), send);
  }

  /** Builds the answer of a start from its first answer. */
  @FunctionalInterface
  interface Answer {
    Reply of(First first) throws InterruptedException;
  }

  /**
   * The owner's side of the first answer: hands it to the request that started the run, with the
   * room reading it took, which that request gives back once it has answered ({@link #sendFirst}).
   * Were that request gone before it took it, the run gives back all it holds when it ends.
   */
  static void handFirst(CompletableFuture<First> first, First f) {
    if (!first.complete(f)) {
      f.giveBackRoom();
    }
  }

  /**
   * The starting request's side: the first answer (its parsed calls, then the answer built of them)
   * is in memory until it is sent, so its room goes back only then, however that ends.
   */
  static void sendFirst(First f, Answer answer, Consumer<Reply> send) throws InterruptedException {
    try {
      send.accept(answer.of(f));
    } finally {
      f.giveBackRoom();
    }
  }

  /**
   * The owner of a run: the /exec pipeline, whose run step starts the runner's programmatic run,
   * hands its first answer to the starting request, and waits for the run's end. It counts the run
   * in {@code recorder}, once, however the run ends, before the end can be read: a client that sees
   * the end finds the run counted.
   */
  private void own(
      Start start,
      String executionId,
      Owner owner,
      CompletableFuture<First> first,
      Recorder recorder,
      long began) {
    owner.started(Thread.currentThread());
    RunnerEnd[] end = new RunnerEnd[1];
    String[] session = new String[1]; // for an answer of a run that failed
    String language = start.command().language().code();
    boolean recorded = false;
    try {
      ExecResponse response =
          executions.execute(
              start.command(),
              (sandbox, request, sessionId, room) -> {
                session[0] = sessionId;
                try {
                  return runOwned(
                      start, executionId, owner, sandbox, request, sessionId, first, end, room);
                } catch (IOException e) {
                  throw new SandboxException("unreadable runner answer: " + e.getMessage(), e);
                }
              },
              null);
      Map<String, Object> body = finalBody(response, end[0]);
      String why = end[0] == null ? null : end[0].end();
      recorded = true;
      record(() -> recorder.ended(language, outcome(why, body), System.nanoTime() - began));
      // The tokens go before the answer, so whoever reads the answer finds them gone.
      if ("cancelled".equals(why) || "idle_timeout".equals(why)) {
        store.deleteExecution(executionId);
      }
      store.putFinal(
          executionId, Json.writeString(new Final(language, millisSince(began), body)), FINAL_TTL);
      first.complete(new First(new RunnerReply("ended", null), response.sessionId()));
    } catch (Throwable e) {
      // A cancel interrupts a waiting owner: the store is read and written all the same.
      boolean interrupted = Thread.interrupted() || e instanceof InterruptedException;
      boolean handedOver = owner.finish();
      if (!recorded && cancelledWaiting(executionId, owner, handedOver, e)) {
        // As a run cancelled while it runs: an error answer, counted as one, its tokens gone.
        Map<String, Object> body = endBody("Execution cancelled", session[0], start);
        record(() -> recorder.ended(language, outcome("cancelled", body), nanosSince(began)));
        try {
          endWithoutTokens(executionId, language, began, body);
          first.complete(new First(new RunnerReply("ended", null), session[0]));
        } catch (RuntimeException stored) {
          first.completeExceptionally(stored);
        }
        return;
      }
      RuntimeException failure = e instanceof RuntimeException r ? r : new IllegalStateException(e);
      if (!recorded) {
        record(() -> recorder.failed(language, nanosSince(began), failure));
      }
      if (!first.completeExceptionally(failure)) {
        // The client is in a continuation: it gets an error answer (with the run's session, as
        // every answer of the run), the tokens become unknown.
        LOG.log(Level.WARNING, "programmatic run " + executionId + " failed", e);
        Map<String, Object> body = endBody("Execution failed or timed out", session[0], null);
        try {
          endWithoutTokens(executionId, language, began, body);
        } catch (RuntimeException ignored) {
          // the store is down: the continuation answers 503 after its wait
        }
      }
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    } finally {
      waiting.remove(executionId);
    }
  }

  /**
   * Whether a run that ended with {@code e} was cancelled before it had its sandbox: its wait ends
   * here when it did not reach the hand-over (where {@link #handOver} ends it).
   */
  private boolean cancelledWaiting(
      String executionId, Owner owner, boolean handedOver, Throwable e) {
    if (e instanceof CancelledWaitingException) {
      return true;
    }
    if (!owner.cancellable || handedOver) {
      return false;
    }
    try {
      return store.endWaiting(executionId);
    } catch (RuntimeException stored) {
      LOG.log(Level.WARNING, "programmatic run " + executionId + ": wait not ended", stored);
      return false;
    }
  }

  /** Stores a run's last answer after its tokens are gone: whoever reads it finds them gone. */
  private void endWithoutTokens(
      String executionId, String language, long began, Map<String, Object> body) {
    store.deleteExecution(executionId);
    store.putFinal(
        executionId, Json.writeString(new Final(language, millisSince(began), body)), FINAL_TTL);
  }

  /** The answer of a run that ended before its runner could answer (no output, no files). */
  private static Map<String, Object> endBody(String error, String sessionId, Start start) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("status", "error");
    body.put("error", error);
    // A run cancelled before it reached its sandbox: the session it asked for, if it named one.
    String session = sessionId == null && start != null ? start.command().sessionId() : sessionId;
    if (session != null || start == null) {
      body.put("session_id", session);
    }
    body.put("stdout", "");
    body.put("stderr", "");
    if (start != null) {
      body.put("files", List.of());
    }
    return body;
  }

  /** Counting a run never ends it otherwise: a recorder that fails is logged. */
  private static void record(Runnable r) {
    try {
      r.run();
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "programmatic run not recorded", e);
    }
  }

  /**
   * A run's outcome for usage and the metrics: ok; timeout when a stretch ran out of time or a
   * batch waited for its results past PTC_CONTINUATION_TIMEOUT_SECONDS; else error.
   */
  static String outcome(String why, Map<String, Object> body) {
    Object error = body.get("error");
    if (error == null) {
      return "ok";
    }
    return "Time limit exceeded".equals(error) || "idle_timeout".equals(why) ? "timeout" : "error";
  }

  private RunnerResult runOwned(
      Start start,
      String executionId,
      Owner owner,
      Sandbox sandbox,
      RunnerRequest request,
      String sessionId,
      CompletableFuture<First> first,
      RunnerEnd[] end,
      Room room)
      throws SandboxException, InterruptedException, IOException {
    RunnerClient runner = sandbox.runner();
    Map<String, Object> ptc = new LinkedHashMap<>();
    ptc.put("tools", start.tools());
    ptc.put("max_rounds", MAX_ROUND_TRIPS);
    ptc.put("idle_timeout_ms", idleTimeout.toMillis());
    ptc.put("run_id", executionId); // a cancel that overtakes this request still finds the run
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("language", request.language());
    body.put("code", request.code());
    body.put("timeout_ms", start.segmentTimeout().toMillis());
    body.put("ptc", ptc);
    handOver(start, executionId, owner, runner, sessionId);
    long runEnd = System.nanoTime() + runBudget().toNanos();
    // The first answer goes to the request that started the run: paid for until it is handed over.
    Room.Counted firstRoom = new Room.Counted(room);
    RunnerClient.Reply r =
        runner.post(
            "/execute",
            body,
            start.segmentTimeout().plus(MARGIN),
            executions.maxRunnerReply(),
            firstRoom);
    if (r.status() == 400) {
      // Its error only, read as a stream and cut at 1 KiB: it is the client's 400 message.
      String error = RunnerClient.errorOf(new ByteArrayInputStream(r.body()));
      throw new RefusedProgramException(error != null ? error : "invalid programmatic request");
    }
    if (r.status() != 200) {
      throw new SandboxException(
          "runner answered "
              + r.status()
              + " to a programmatic run: "
              + new String(r.body(), 0, Math.min(r.body().length, 300), StandardCharsets.UTF_8));
    }
    RunnerReply reply =
        checked(parse(r.body(), RunnerReply.class, "/execute", MAX_BATCH_TOKENS), start.tools());
    if (owner.cancellable
        && "tool_call_required".equals(reply.status())
        && store.execution(executionId).isEmpty()) {
      // Cancelled while the runner started the run: a runner of an earlier version forgets a cancel
      // that reached it before the run did, so it goes again; the end (cancelled) is the answer.
      firstRoom.giveBackAll();
      cancelRunner(executionId, runner);
    } else {
      handFirst(first, new First(reply, sessionId, firstRoom));
    }
    while (true) {
      // Only the end is kept (the run's result); an answer "not yet" is given back.
      long left = runEnd - System.nanoTime();
      if (left <= 0) {
        throw overBudget(null);
      }
      Duration round = Duration.ofNanos(Math.min(left, WAIT_ROUND.toNanos()));
      Room.Counted waitRoom = new Room.Counted(room);
      RunnerClient.Reply w;
      try {
        w = runner.post("/ptc/wait", Map.of(), round, executions.maxRunnerReply(), waitRoom);
      } catch (SandboxException e) {
        throw runEnd - System.nanoTime() <= 0 ? overBudget(e) : e;
      }
      if (w.status() == 202) {
        waitRoom.giveBackAll();
        continue;
      }
      if (w.status() != 200) {
        throw new SandboxException("runner answered " + w.status() + " to wait");
      }
      // One answer read as two records (how the run ended, its result): counted once.
      RunnerClient.checkTokens(
          new ByteArrayInputStream(w.body()), RunnerClient.MAX_REPLY_TOKENS, "/ptc/wait");
      end[0] = counted(w.body(), RunnerEnd.class, "/ptc/wait");
      return counted(w.body(), RunnerResult.class, "/ptc/wait");
    }
  }

  /** A run whose runner did not end it within {@link #runBudget}. */
  private SandboxException overBudget(Throwable cause) {
    return new SandboxException(
        "the sandbox's runner did not end the programmatic run within "
            + runBudget().toSeconds()
            + " s: the sandbox is given up",
        cause);
  }

  /**
   * The run has its sandbox: it is no longer waiting. Its runner is in the store before its wait
   * ends, so a cancel that comes too late to mark the wait finds the runner; one that marked it
   * ends the run here, before its code starts (its slot goes back; the sandbox is destroyed, not
   * kept for the session).
   */
  private void handOver(
      Start start, String executionId, Owner owner, RunnerClient runner, String sessionId) {
    owner.handOver();
    store.putExecution(
        executionId,
        new ProgrammaticStore.Execution(
            start.principal(), runner.base().toString(), runner.token(), sessionId, start.tools()),
        executionTtl());
    if (owner.cancellable && store.endWaiting(executionId)) {
      throw new CancelledWaitingException();
    }
  }

  /**
   * The most a runner's answer to /ptc/continue may be: a batch of calls, which the code sends as
   * one line of at most 1 MiB (the runner's bound, docs/runner-protocol.md), or the end.
   */
  static final int MAX_CONTINUE_REPLY = (1 << 20) + (64 << 10);

  /**
   * Sends a batch's results; answers the next batch, or the end. {@code room} (the continuing
   * request's share of the memory budget) is asked for the runner's answer before the results go
   * out: once the runner took them, an answer left unread would lose the batch and make a retry
   * stale, so a refusal must come while the token is still good.
   */
  public Reply resume(
      String principal, String requestId, String token, List<Object> results, Room room)
      throws InterruptedException {
    ProgrammaticStore.Token t =
        store
            .token(token)
            .filter(x -> x.principal().equals(principal))
            .orElseThrow(
                () -> new UnknownContinuationException("Unknown or expired continuation token"));
    Optional<ProgrammaticStore.Execution> found = store.execution(t.executionId());
    if (found.isEmpty()) {
      return endedWithout(token, t.executionId());
    }
    ProgrammaticStore.Execution e = found.get();
    // Used once means used: the mark goes on when the runner took the results (it takes one set of
    // results per batch, so two concurrent uses of one token cannot both pass).
    if (store.used(token)) {
      throw new StaleContinuationException("This continuation token was used already");
    }
    if (requestId == null) {
      return resumeRun(principal, token, results, room, t, e);
    }
    // Recorded before the results go out, so a cancel by this request finds the run while they
    // are out; forgotten when the runner refuses them or does not know the token: the run goes on
    // untouched, and a token refused (wrong call ids) sent again and again, each time under a new
    // request id, would otherwise leave a record per request for as long as a run may last.
    store.putRequest(principal, requestId, t.executionId(), executionTtl());
    try {
      return resumeRun(principal, token, results, room, t, e);
    } catch (StaleContinuationException | UnknownContinuationException refused) {
      forgetRequest(principal, requestId, t.executionId());
      throw refused;
    }
  }

  /** Forgets a refused request's id; a store that fails only leaves it to expire. */
  private void forgetRequest(String principal, String requestId, String executionId) {
    try {
      store.deleteRequest(principal, requestId, executionId);
    } catch (RuntimeException ex) {
      LOG.log(Level.FINE, "request id of " + executionId + " left to expire", ex);
    }
  }

  /** {@link #resume} once the token is known, of a live run, and unused. */
  private Reply resumeRun(
      String principal,
      String token,
      List<Object> results,
      Room room,
      ProgrammaticStore.Token t,
      ProgrammaticStore.Execution e)
      throws InterruptedException {
    RunnerClient runner = new RunnerClient(http, URI.create(e.runnerUrl()), e.runnerToken());
    // All or none, before the results go out: the answer is read whole, never on unpaid room.
    room.reserveAll((long) MAX_CONTINUE_REPLY * RunnerClient.REPLY_COST);
    RunnerClient.Reply r;
    try {
      r =
          runner.post(
              "/ptc/continue",
              // run_id: a token of an earlier run of a kept sandbox does not reach this one.
              Map.of("run_id", t.executionId(), "tool_results", results),
              maxSegment.plus(MARGIN),
              MAX_CONTINUE_REPLY);
    } catch (SandboxException ex) {
      throw new ExecutionUnavailableException(
          ExecutionUnavailableException.Reason.SANDBOX_FAILED, ex.getMessage(), ex);
    }
    if (r.status() == 410 || r.status() == 404 || r.status() == 401) {
      // The run ended while this batch was out (on its own, or its sandbox died; the runner says
      // so,
      // or is gone with its sandbox): its end is the answer, once. Its owner stores the end just
      // after the sandbox goes.
      Optional<String> end = store.awaitFinal(t.executionId(), ENDED_WAIT);
      if (end.isPresent()) {
        if (!store.consume(token, tokenTtl())) {
          throw new StaleContinuationException("This continuation token was used already");
        }
        return done(end.get());
      }
    }
    if (r.status() == 409 || r.status() == 400) {
      throw new StaleContinuationException(
          "These results do not answer the tool calls waiting for them");
    }
    if (r.status() == 404 || r.status() == 401) {
      throw new UnknownContinuationException("Unknown or expired continuation token");
    }
    if (r.status() != 200) {
      throw new ExecutionUnavailableException(
          ExecutionUnavailableException.Reason.SANDBOX_FAILED,
          "runner answered " + r.status() + " to continue",
          null);
    }
    RunnerReply reply;
    try {
      reply =
          checked(parse(r.body(), RunnerReply.class, "/ptc/continue", MAX_BATCH_TOKENS), e.tools());
    } catch (SandboxException ex) {
      // Not our runner's answer: the run cannot go on, and waiting for its idle timeout helps no
      // one. The token stays unused: the client's retry gets the run's end (cancelled), not a
      // 404, which LibreChat's client takes for "run it all again".
      LOG.log(Level.WARNING, "programmatic run " + t.executionId() + ": " + ex.getMessage(), ex);
      cancelRunner(t.executionId(), runner);
      throw new ExecutionUnavailableException(
          ExecutionUnavailableException.Reason.SANDBOX_FAILED, ex.getMessage(), ex);
    }
    // Used once the runner took the results and answered within its protocol. Single use holds:
    // of two uses at once, the runner answers one 200 and the other 409, and of two 200s (one
    // after the other, the first failing its checks) only one consumes the token.
    if (!store.consume(token, tokenTtl())) {
      throw new StaleContinuationException("This continuation token was used already");
    }
    return answer(reply, t.executionId(), principal, e.sessionId());
  }

  /** The most calls one batch holds (the runner's bound, docs/runner-protocol.md). */
  static final int MAX_CALLS = 64;

  /**
   * What one call's input may hold on average over a batch: a tool's arguments are a few values,
   * 4,096 lets through a list of a thousand small records (one call may use the whole batch's).
   */
  static final int INPUT_TOKENS = 4096;

  /**
   * The most JSON tokens a batch may hold: {@link #MAX_CALLS} calls of 7 tokens (an object of id,
   * name and input) and an input of up to {@link #INPUT_TOKENS} each, and 64 for the rest (status,
   * round, brackets): 262,656, a tree of at most ~26 MB (~100 bytes a token). The calls' inputs
   * become trees before the calls are counted, so the bound comes first.
   */
  static final long MAX_BATCH_TOKENS = MAX_CALLS * (7L + INPUT_TOKENS) + 64;

  /**
   * A runner's JSON answer as {@code type}, of at most {@code maxTokens} tokens ({@link
   * RunnerClient#checkTokens}). One that is not JSON, of more tokens, not of that shape, or {@code
   * null} is not our runner's (on Kubernetes user code shares its uid and could stand in for it): a
   * sandbox failure, not a store's (as an UncheckedIOException would be told) nor a 500.
   */
  static <T> T parse(byte[] body, Class<T> type, String what, long maxTokens)
      throws SandboxException {
    RunnerClient.checkTokens(new ByteArrayInputStream(body), maxTokens, what);
    return counted(body, type, what);
  }

  /** {@link #parse} of an answer whose tokens were counted already. */
  private static <T> T counted(byte[] body, Class<T> type, String what) throws SandboxException {
    T value;
    try {
      value = Json.MAPPER.readValue(body, type);
    } catch (IOException | RuntimeException e) {
      throw new SandboxException("unreadable runner answer to " + what + ": " + e.getMessage(), e);
    }
    if (value == null) {
      throw new SandboxException("the runner's answer to " + what + " is empty (null)");
    }
    return value;
  }

  /**
   * {@code reply}, when it is one the runner can send: the end ({@code ended}), or a batch ({@code
   * tool_call_required}) of 1 to {@link #MAX_CALLS} calls, each with an id and one of {@code
   * tools}, the names the run registered (null: not known, a record of an earlier version). The
   * client would otherwise be asked to run a tool the run never registered.
   */
  static RunnerReply checked(RunnerReply reply, List<String> tools) throws SandboxException {
    if ("ended".equals(reply.status())) {
      return reply;
    }
    if (!"tool_call_required".equals(reply.status())) {
      // The protocol has these two: any other would be taken for an end that never comes.
      throw new SandboxException(
          "the runner's answer has status "
              + (reply.status() == null ? "null" : shortened(reply.status()))
              + ": tool_call_required or ended expected");
    }
    List<Call> calls = reply.toolCalls();
    if (calls == null || calls.isEmpty() || calls.size() > MAX_CALLS) {
      throw new SandboxException(
          "the runner's batch has "
              + (calls == null ? 0 : calls.size())
              + " calls: 1 to "
              + MAX_CALLS
              + " expected");
    }
    for (Call c : calls) {
      if (c == null || c.id() == null || c.name() == null) {
        throw new SandboxException("the runner's batch has a call without an id or a name");
      }
      if (tools != null && !tools.contains(c.name())) {
        throw new SandboxException(
            "the runner's batch calls a tool the run did not register: " + shortened(c.name()));
      }
    }
    return reply;
  }

  /** At most 256 characters of a name a runner sent (the runner's bound on a tool's name). */
  private static String shortened(String name) {
    return ExecutionService.shorter(name, 256);
  }

  /**
   * A continuation of a run that ended without its results (its batch unanswered past
   * PTC_CONTINUATION_TIMEOUT_SECONDS, cancelled, its sandbox dead): the owner deleted the run's
   * record, then stores its end. A token not used yet gets that end, once: LibreChat's client shows
   * a 404 as "retry", and the model would run the whole program, and its tools, again. A token used
   * already, or whose run's end has expired, is unknown, as before.
   */
  private Reply endedWithout(String token, String executionId) throws InterruptedException {
    if (!store.used(token)) {
      Optional<String> end = store.awaitFinal(executionId, GONE_WAIT);
      if (end.isPresent() && store.consume(token, tokenTtl())) {
        return done(end.get());
      }
    }
    throw new UnknownContinuationException("Unknown or expired continuation token");
  }

  /**
   * Cancels the run a request of the principal belongs to, at any stage; false when there is none.
   * A run still waiting for its sandbox ends at once when this replica owns it (its owner is
   * interrupted), else when its owner gets the sandbox, before its code starts.
   */
  public boolean cancel(String principal, String requestId) {
    Optional<String> id = store.request(principal, requestId);
    if (id.isEmpty()) {
      return false;
    }
    if (store.cancelWaiting(id.get())) {
      Owner owner = waiting.get(id.get());
      if (owner != null) {
        owner.cancel();
      }
      return true;
    }
    Optional<ProgrammaticStore.Execution> e = store.execution(id.get());
    if (e.isEmpty() || !e.get().principal().equals(principal)) {
      return false;
    }
    store.deleteExecution(id.get());
    cancelRunner(
        id.get(), new RunnerClient(http, URI.create(e.get().runnerUrl()), e.get().runnerToken()));
    return true;
  }

  private static void cancelRunner(String executionId, RunnerClient runner) {
    try {
      runner.post("/ptc/cancel", Map.of("run_id", executionId), Duration.ofSeconds(5), 4096);
    } catch (SandboxException ex) {
      // The sandbox is gone already: nothing left to cancel.
      LOG.fine("cancel of " + executionId + ": " + ex.getMessage());
    }
  }

  private Reply answer(RunnerReply reply, String executionId, String principal, String sessionId)
      throws InterruptedException {
    if ("tool_call_required".equals(reply.status()) && reply.toolCalls() != null) {
      String token = RandomHex.of(32);
      store.putToken(token, new ProgrammaticStore.Token(executionId, principal), tokenTtl());
      return new ToolCallsRequired(sessionId, token, reply.toolCalls());
    }
    Optional<String> body = store.awaitFinal(executionId, maxSegment.plus(Duration.ofMinutes(2)));
    if (body.isEmpty()) {
      throw new ExecutionUnavailableException(
          ExecutionUnavailableException.Reason.SANDBOX_FAILED,
          "the programmatic run ended but its result did not arrive",
          null);
    }
    return done(body.get());
  }

  private static Done done(String finalJson) {
    try {
      Final f = Json.MAPPER.readValue(finalJson, Final.class);
      return new Done(f.body());
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
  }

  /** The completed or error answer of a run, in the shape LibreChat's client reads. */
  static Map<String, Object> finalBody(ExecResponse r, RunnerEnd end) {
    String why = end == null ? null : end.end();
    String error = null;
    if ("timeout".equals(why) || "timeout".equals(r.status())) {
      error = "Time limit exceeded";
    } else if ("unregistered_tool".equals(why)) {
      error = "Sandbox requested an unregistered tool: " + ExecutionService.shortened(end.detail());
    } else if ("cancelled".equals(why)) {
      error = "Execution cancelled";
    } else if ("idle_timeout".equals(why)) {
      error = "Execution failed or timed out";
    } else if (why != null && !why.isEmpty()) {
      // The runner's text, cut: the end is stored and read again by each continuation that asks.
      error = end.detail() == null ? null : ExecutionService.shortened(end.detail());
    } else if (r.stderr() != null && r.stderr().contains("sandbox memory limit")) {
      error = "Out of memory";
    } else if (r.code() != 0) {
      error = "Sandbox exited with code " + r.code();
    }
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("status", error == null ? "completed" : "error");
    if (error != null) {
      body.put("error", error);
    }
    body.put("session_id", r.sessionId());
    body.put("stdout", r.stdout());
    body.put("stderr", r.stderr());
    body.put("files", r.files() == null ? List.of() : new ArrayList<>(r.files()));
    if (r.deletedFiles() != null && !r.deletedFiles().isEmpty()) {
      body.put("deleted_files", r.deletedFiles());
    }
    if (r.artifactDelivery() != null) {
      body.put("artifact_delivery", r.artifactDelivery());
    }
    return body;
  }

  private static long nanosSince(long nanos) {
    return System.nanoTime() - nanos;
  }

  private static long millisSince(long nanos) {
    return (System.nanoTime() - nanos) / 1_000_000;
  }
}
