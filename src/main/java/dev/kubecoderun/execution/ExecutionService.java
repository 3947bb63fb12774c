package dev.kubecoderun.execution;

import dev.kubecoderun.common.Apart;
import dev.kubecoderun.common.Texts;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.SandboxUse;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.OutputName;
import dev.kubecoderun.files.SessionUsage;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.files.TooLargeException;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.RunnerFileException;
import dev.kubecoderun.sandbox.RunnerRequest;
import dev.kubecoderun.sandbox.RunnerResult;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.sandbox.SessionSandboxes;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionBusyException;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionNotFoundException;
import dev.kubecoderun.session.SessionResolver;
import dev.kubecoderun.state.StateHash;
import dev.kubecoderun.state.StateStore;
import dev.kubecoderun.state.StoredState;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One /exec, in plain steps: resolve the session, wait for its previous run to end, take a slot and
 * a warm sandbox, put the input files, run, store what the run created or changed, save Python
 * state, answer, and hand the sandbox back to be destroyed.
 */
public final class ExecutionService {
  private static final Logger LOG = Logger.getLogger(ExecutionService.class.getName());

  private final SessionResolver sessions;
  private final FileService files;
  private final StateStore states;
  private final SandboxPool pool;
  private final ExecutionSlots slots;
  private final Config.Limits limits;
  private final Config.State stateConfig;
  private final SessionLocks locks;
  private final Duration sessionWait;
  private final SessionSandboxes sessionSandboxes;
  private final MemoryBudget memory;
  private final PrincipalRuns runs;

  /**
   * @param sessionSandboxes when not null, a sandbox serves the runs of one session (reset between
   *     them) instead of one run (K8S_POD_REUSE=session)
   * @param memory the budget of what requests and runs buffer, all together: a run holds its share
   *     of it from its slot to its end (the state it loads and sends, the runner's answer)
   * @param runs the runs each principal has in progress, capped for some
   */
  public ExecutionService(
      SessionResolver sessions,
      FileService files,
      StateStore states,
      SandboxPool pool,
      ExecutionSlots slots,
      Config.Limits limits,
      Config.State stateConfig,
      SessionLocks locks,
      Duration sessionWait,
      SessionSandboxes sessionSandboxes,
      MemoryBudget memory,
      PrincipalRuns runs) {
    this.sessionSandboxes = sessionSandboxes;
    this.sessions = sessions;
    this.files = files;
    this.states = states;
    this.pool = pool;
    this.slots = slots;
    this.limits = limits;
    this.stateConfig = stateConfig;
    this.locks = locks;
    this.sessionWait = sessionWait;
    this.memory = memory;
    this.runs = runs;
    warnOfSmallBudget();
  }

  /**
   * How the run step talks to the sandbox's runner when it is not one POST /execute (a programmatic
   * run: {@link ProgrammaticService}). Such a run neither loads nor saves Python state.
   */
  @FunctionalInterface
  public interface RunStep {
    /** {@code room}: the run's share of the memory budget, for what the step buffers. */
    RunnerResult run(Sandbox sandbox, RunnerRequest request, String sessionId, Room room)
        throws SandboxException, InterruptedException;
  }

  /**
   * What a sandbox kept for a session's next run (K8S_POD_REUSE=session) is kept under: the
   * session's incarnation, not its id alone. An expired session made anew under its id (by another
   * principal, say) never gets a pod its former incarnation's code ran in.
   */
  static String sandboxKey(Session session, Language language) {
    return session.id() + "/" + session.createdAt().toEpochMilli() + "/" + language.code();
  }

  /**
   * Runs {@code cmd}. Runs of one session go one at a time (see {@link SessionLocks}): a run waits
   * up to SESSION_QUEUE_TIMEOUT_SECONDS for the one before it, else {@link SessionBusyException}.
   * {@code step}: the run step (null: the usual one). {@code memory}: the caller's holding of the
   * memory budget (the HTTP request's: a request and its run are one holder, which may hold the
   * whole budget but never waits for itself); null, a holding of the run's own. What the run
   * reserved is given back when it is over, but for what its answer needs until sent (up to what it
   * held), which stays with the caller's holding.
   */
  public ExecResponse execute(ExecCommand cmd, RunStep step, MemoryBudget.Held memory)
      throws InterruptedException {
    // Refused before anything is resolved or made (a session, a lock): the slot would be refused.
    if (slots.closed()) {
      throw stopping();
    }
    PhaseTimer timer = new PhaseTimer();
    List<String> notes = new ArrayList<>();
    // Resolved, and their names checked, before a session is made for a request that is refused.
    Map<String, StoredFile> inputs = resolveInputs(cmd.principal(), cmd.files(), notes, memory);
    List<String> fileSessions = cmd.files().stream().map(ExecCommand.FileRef::sessionId).toList();
    Session session =
        sessions.resolve(
            cmd.principal(),
            cmd.sessionId(),
            fileSessions,
            cmd.entityId(),
            cmd.userId(),
            SessionResolver.Another.FALL_BACK);
    timer.mark("prepare");
    SessionLocks.Lease held = locks.acquire(session.id(), sessionWait);
    try {
      timer.mark("session");
      // The wait for the lock may have outlasted the session: expired, emptied and made anew,
      // perhaps by another principal. The run must not land in that one.
      if (!sessions.isStill(session)) {
        throw new SessionNotFoundException(session.id());
      }
      PrincipalRuns.Place place = runs.enter(cmd.principal());
      try {
        return executeHeld(cmd, session, inputs, notes, timer, step, memory);
      } finally {
        place.close();
      }
    } catch (ExecutionUnavailableException e) {
      if (e.reason() != ExecutionUnavailableException.Reason.SANDBOX_FAILED) {
        forgetRefused(session);
      }
      throw e;
    } catch (TooManyRunsException | MemoryBudgetExhaustedException e) {
      // Short of memory: refused before it ran (its state), or its answer not read, its files and
      // state then not kept (see executeHeld): either way the run changed nothing.
      forgetRefused(session);
      throw e;
    } finally {
      // A programmatic run cancelled before its hand-over is interrupted, at any moment (this very
      // release too): its session is freed all the same, apart from the interrupt (in Redis, a
      // call interrupted would fail, and the session stay locked until the lease ran out).
      Apart.run("session-release", held::close);
    }
  }

  /**
   * Refused before anything ran (its user's runs at their cap, no slot, no sandbox, stopping), or
   * short of memory (nothing of the run kept): a session made for this run goes with it, or each
   * refused retry would leave an empty session until it expired.
   */
  private void forgetRefused(Session session) {
    Apart.run(
        "session-rollback",
        () -> {
          try {
            sessions.forgetIfCreated(session);
          } catch (RuntimeException again) {
            LOG.log(Level.WARNING, "a refused run's session stays: " + session.id(), again);
          }
        });
  }

  /**
   * The run, its session held, in its principal's place ({@link PrincipalRuns}): the caller takes
   * it right before the slot and gives it back right after it, on every path (the run's end, a
   * refusal, an exception, an interrupt; for a programmatic run, on its owner thread when the run
   * ends: completed, cancelled, timed out waiting for its tools, answered from another replica).
   * Not before the session's lock: runs queued behind it (an agent's parallel calls share one
   * session) take no slot and would only wait, so they hold no place. A run waiting here for a slot
   * does hold one: it takes a slot the moment one frees, and counting it is what keeps a principal
   * from ever holding more slots than places.
   */
  private ExecResponse executeHeld(
      ExecCommand cmd,
      Session session,
      Map<String, StoredFile> inputs,
      List<String> notes,
      PhaseTimer timer,
      RunStep step,
      MemoryBudget.Held given)
      throws InterruptedException {
    boolean usesState = step == null && cmd.language().keepsState() && stateConfig.enabled();
    if (!slots.tryAcquire()) {
      if (slots.closed()) {
        throw stopping();
      }
      throw new ExecutionUnavailableException(
          ExecutionUnavailableException.Reason.SLOTS_BUSY,
          "All execution slots are busy; retry shortly",
          null);
    }
    timer.mark("slot");
    // What this run buffers (its state, the runner's answer), paid for as it arrives; given back
    // when the run is over, however it ends, but for what an answer needs until it is sent.
    MemoryBudget.Held holder = given != null ? given : memory.hold();
    Room.Counted held = new Room.Counted(holder);
    long answer = 0; // of what the run holds, what its answer needs until the caller sends it
    try {
      // Loaded once a slot is held: a state (up to STATE_MAX_SIZE_MB) is in memory only for the
      // runs in progress, not for every request waiting for a slot.
      Optional<StoredState> loaded = usesState ? loadState(session, held) : Optional.empty();
      String state = loaded.map(s -> Base64.getEncoder().encodeToString(s.bytes())).orElse(null);
      timer.mark("state_load");
      String sandboxKey = sandboxKey(session, cmd.language());
      Sandbox sandbox = acquireSandbox(cmd.language(), sandboxKey);
      timer.mark("sandbox");
      boolean reusable = false;
      try {
        long inputsEnd = System.nanoTime() + limits.sandboxTransferTimeout().toNanos();
        for (var it = inputs.entrySet().iterator(); it.hasNext(); ) {
          Map.Entry<String, StoredFile> in = it.next();
          if (!putInput(
              sandbox, in.getKey(), in.getValue(), left(inputsEnd, "taking the input files"))) {
            // Its record outlived its bytes (lost from the object store, or the file deleted
            // since it was looked up): as a file not found, not a 503 that every retry would meet
            // again (LibreChat sends the same files with every run of a conversation).
            notes.add(
                "input file '"
                    + in.getKey()
                    + "' was not found and is not in /mnt/data: its stored content is gone");
            it.remove();
          }
        }
        timer.mark("inputs");
        RunnerRequest request =
            new RunnerRequest(
                cmd.language().code(),
                cmd.code(),
                limits.maxExecutionTime().toMillis(),
                cmd.args(),
                state,
                usesState,
                usesState ? maxStateBytes() : null);
        RunnerResult result =
            step != null
                ? step.run(sandbox, request, session.id(), held)
                : sandbox
                    .runner()
                    .execute(
                        request,
                        SandboxUse.execute(limits.maxExecutionTime()),
                        maxRunnerReply(),
                        held);
        timer.mark("run");
        checkReply(result);
        // A run that ended on its own leaves a sandbox its session may use again.
        reusable = !result.timedOut();
        // An answer that is an error names no file, so none of this run's stays stored: a store
        // or the runner failing after some were kept (at a later file, or at the state) would
        // leave files nobody was told of, in the listing and counted against MAX_SESSION_FILES,
        // and the client's retry of the run would store them again.
        List<StoredFile> kept = new ArrayList<>();
        ExecResponse response;
        try {
          Outputs outputs = storeOutputs(cmd, sandbox, session, result, inputs, notes, held, kept);
          timer.mark("outputs");
          StoredStateInfo saved =
              usesState ? saveState(session, loaded, result, notes) : StoredStateInfo.NONE;
          timer.mark("state");
          response = respond(session, result, outputs, saved, notes);
        } catch (SandboxException | RuntimeException e) {
          files.rollBack(kept);
          throw e;
        }
        answer = given != null ? answerBytes(response) : 0;
        timer.log(cmd.language(), response.status(), session.id());
        return response;
      } catch (SandboxException e) {
        LOG.log(Level.WARNING, "sandbox failure in session " + session.id(), e);
        throw new ExecutionUnavailableException(
            ExecutionUnavailableException.Reason.SANDBOX_FAILED, e.getMessage(), e);
      } finally {
        if (sessionSandboxes != null && reusable) {
          sessionSandboxes.keep(sandboxKey, sandbox);
        } else if (sessionSandboxes != null) {
          sessionSandboxes.release(sandbox);
        } else {
          pool.release(sandbox);
        }
      }
    } finally {
      held.giveBack(Math.max(0, held.reserved() - answer));
      if (given == null) {
        holder.releaseAll();
      }
      slots.release();
    }
  }

  /** A run refused because the service is stopping: the client retries, elsewhere or later. */
  private static ExecutionUnavailableException stopping() {
    return new ExecutionUnavailableException(
        ExecutionUnavailableException.Reason.STOPPING, "The service is shutting down; retry", null);
  }

  /**
   * The most {@code r} costs until it is sent: its outputs as strings (2 bytes a character) and as
   * JSON (6 bytes a control character, escaped), 8 KiB a file entry, 4 KiB besides. Kept, of what
   * the run held, with the caller's holding, which gives it back once the answer is sent: asking
   * for it then could refuse a run whose outputs and state are already stored.
   */
  static long answerBytes(ExecResponse r) {
    long entries =
        r.files().size()
            + (r.deletedFiles() == null ? 0 : r.deletedFiles().size())
            + (r.skippedFiles() == null ? 0 : r.skippedFiles().size());
    return 8L * (r.stdout().length() + r.stderr().length()) + 8192 * entries + 4096;
  }

  /**
   * What a loaded state costs a run for each of its bytes until the run is over: the bytes, their
   * base64 (4/3), and the JSON request that carries it to the runner (4/3, twice while it grows).
   */
  static final int STATE_COST = 5;

  /**
   * The session's state, paid for before it costs memory: the store asks for what loading it
   * buffers once it knows its size (nothing when there is none); then the run holds {@link
   * #STATE_COST} times its size, before it is encoded.
   */
  private Optional<StoredState> loadState(Session session, Room.Counted held) {
    long before = held.reserved();
    Optional<StoredState> s = states.load(session.id(), session.createdAt(), held);
    long loading = held.reserved() - before;
    long keep = s.map(x -> (long) x.bytes().length * STATE_COST).orElse(0L);
    if (keep > loading) {
      // All or none: a run whose state costs more than the budget gives it fails (503) here,
      // before it takes a sandbox, rather than carry the state unpaid for.
      held.reserveAll(keep - loading);
    } else {
      held.giveBack(loading - keep);
    }
    return s;
  }

  /**
   * The most a runner's answer may be: what the protocol allows ({@link #protocolReply}), or less
   * when the memory budget cannot hold that at {@link RunnerClient#REPLY_COST} a byte: a run holds
   * the budget at most whole, so a larger answer could never be read (the read stops where the
   * budget ends, a 503).
   */
  int maxRunnerReply() {
    return (int) Math.min(protocolReply(), memory.capacity() / RunnerClient.REPLY_COST);
  }

  /**
   * The most a runner's answer may be by its protocol: stdout and stderr (each MAX_OUTPUT_SIZE, at
   * worst 6 bytes of JSON per byte), the state (at most {@link #RUNNER_MAX_STATE_BYTES}, base64)
   * and the file list (at most 10 000 entries).
   */
  private long protocolReply() {
    long state = RUNNER_MAX_STATE_BYTES * 4 / 3;
    long files = 64L << 20;
    return Math.min(Integer.MAX_VALUE - 8, protocolOutputs() + state + files);
  }

  /**
   * Of {@link #protocolReply}: stdout and stderr at their worst, and 1 MiB for the other fields.
   */
  private long protocolOutputs() {
    return 12L * limits.maxOutputBytes() + (1 << 20);
  }

  /**
   * The largest state the runner sends (runner/execute.go maxStateBytes): a larger one it keeps
   * back, with a state error, whatever max_state_bytes asks.
   */
  static final long RUNNER_MAX_STATE_BYTES = 64L << 20;

  /**
   * The largest Python state a run keeps: STATE_MAX_SIZE_MB, at most {@link
   * #RUNNER_MAX_STATE_BYTES}, or less when the memory budget cannot afford it. Sent to the runner
   * as max_state_bytes (it then sends no larger state), and checked again on the answer (a runner
   * of an older version ignores it). Why less: a state is only worth keeping if the session's next
   * run can carry it on. That run holds it at {@link #STATE_COST} a byte while it runs and reads an
   * answer that may carry it back, 4/3 of it as base64 at {@link RunnerClient#REPLY_COST} a byte,
   * with outputs at their worst: about 10.3 times the state, on top of those outputs. A larger
   * state would fail that run with a 503, its output lost, once the budget could not hold its
   * answer; now the run is answered without it, with a note. The file list's share of {@link
   * #protocolReply} (10 000 long names) is left out: a run near that bound may still fail, as
   * {@link #warnOfSmallBudget} says. At least 1 byte: 0 would mean the runner's own bound.
   */
  long maxStateBytes() {
    return maxStateBytes(memory.capacity(), protocolOutputs(), stateConfig.maxBytes());
  }

  /** {@link #maxStateBytes()} of a budget, the outputs' worst case and STATE_MAX_SIZE_MB. */
  static long maxStateBytes(long budget, long outputs, long configured) {
    long afford = (budget - outputs * RunnerClient.REPLY_COST) * 3 / STATE_COST_IN_THIRDS;
    return Math.max(1, Math.min(Math.min(configured, RUNNER_MAX_STATE_BYTES), afford));
  }

  /** What a byte of kept state costs, in thirds of a byte: STATE_COST, and 4/3 at REPLY_COST. */
  private static final long STATE_COST_IN_THIRDS = 3L * STATE_COST + 4L * RunnerClient.REPLY_COST;

  /**
   * The start-up warning when runs keep smaller states than STATE_MAX_SIZE_MB ({@code configured}),
   * or null: for the budget, with the budget that keeps them whole, rounded up (so that it does);
   * or, when the budget affords them, for the runner's own bound, which no budget lifts.
   */
  static String stateBudgetWarning(long budget, long outputs, long configured) {
    long keeps = maxStateBytes(budget, outputs, configured);
    if (keeps >= configured) {
      return null;
    }
    String larger =
        "a run whose state is larger is answered without keeping it (a note says so), and its"
            + " session's next run starts without variables";
    long kept = Math.min(configured, RUNNER_MAX_STATE_BYTES); // the most any budget keeps
    if (keeps >= kept) {
      return "STATE_MAX_SIZE_MB ("
          + megabytes(configured, false)
          + " MiB) is more than the runner keeps ("
          + megabytes(RUNNER_MAX_STATE_BYTES, false)
          + " MiB): "
          + larger;
    }
    long keepingAll = kept * STATE_COST_IN_THIRDS + 3 * outputs * RunnerClient.REPLY_COST;
    return "the memory budget ("
        + (budget >> 20)
        + " MiB, REQUEST_MEMORY_BUDGET_MB or a quarter of the heap) keeps Python states of at most "
        + megabytes(keeps, false)
        + " MiB, less than STATE_MAX_SIZE_MB ("
        + megabytes(configured, false)
        + " MiB): "
        + (keeps < 1 << 20
            ? "variables are in effect NOT kept between runs (MAX_OUTPUT_SIZE's worst case takes"
                + " most of the budget)"
            : larger)
        + "; a budget of "
        + mebibytesUp((keepingAll + 2) / 3)
        + " MiB keeps them all"
        + (kept < configured
            ? " up to the runner's " + megabytes(RUNNER_MAX_STATE_BYTES, false) + " MiB"
            : "");
  }

  /**
   * {@code bytes} in whole MiB, rounded up: a budget advised must be enough, and a size over a
   * limit never reads as less than it (InputsTooLargeException).
   */
  static long mebibytesUp(long bytes) {
    return (bytes + (1 << 20) - 1) >> 20;
  }

  /**
   * Tells the operator, once at start, that the memory budget holds less of a runner's answer than
   * the runner may send: runs with that much output or files fail (503, SANDBOX_FAILED); and that
   * it, or the runner, keeps smaller Python states than STATE_MAX_SIZE_MB: larger ones are not kept
   * (the run is answered, with a note).
   */
  private void warnOfSmallBudget() {
    String state = stateBudgetWarning(memory.capacity(), protocolOutputs(), stateConfig.maxBytes());
    if (stateConfig.enabled() && state != null) {
      LOG.warning(state);
    }
    if (maxRunnerReply() < protocolReply()) {
      LOG.warning(
          "the memory budget ("
              + (memory.capacity() >> 20)
              + " MiB, REQUEST_MEMORY_BUDGET_MB or a quarter of the heap) holds a runner's answer"
              + " of at most "
              + (maxRunnerReply() >> 20)
              + " MiB, less than the "
              + (protocolReply() >> 20)
              + " MiB it may be (outputs of MAX_OUTPUT_SIZE, a 64 MiB state, the file list): a"
              + " run whose outputs and files come near it fails with 503; a budget of "
              + mebibytesUp(protocolReply() * RunnerClient.REPLY_COST)
              + " MiB lets every answer through");
    }
  }

  /**
   * Refuses an answer to execute that lists more than the runner's protocol ever does: it is not
   * our runner's (on Kubernetes user code shares the runner's uid and could stand in for it), and
   * each entry would cost a file lookup, a skipped entry and a line of the answer.
   */
  static void checkReply(RunnerResult r) throws SandboxException {
    if (r.changedFiles().size() > RunnerClient.MAX_LISTED
        || r.deletedFiles().size() > RunnerClient.MAX_LISTED
        || r.unlistedPaths().size() > RunnerClient.MAX_UNLISTED) {
      throw new SandboxException(
          "the runner's answer lists more than its protocol allows ("
              + r.changedFiles().size()
              + " files, "
              + r.deletedFiles().size()
              + " deleted, "
              + r.unlistedPaths().size()
              + " unlisted); refused");
    }
  }

  /** The session's own sandbox of that language when one is kept, else one of the pool. */
  private Sandbox acquireSandbox(Language language, String key) throws InterruptedException {
    try {
      if (sessionSandboxes != null) {
        Optional<Sandbox> kept = sessionSandboxes.take(key);
        if (kept.isPresent()) {
          return kept.get();
        }
      }
      return pool.acquire(language);
    } catch (SandboxException e) {
      LOG.log(Level.WARNING, "no sandbox for " + language.code(), e);
      throw new ExecutionUnavailableException(
          ExecutionUnavailableException.Reason.NO_SANDBOX, e.getMessage(), e);
    }
  }

  /** Later references to the same target name win, as in LibreChat's own file tracking. */
  private Map<String, StoredFile> resolveInputs(
      dev.kubecoderun.auth.Principal principal,
      List<ExecCommand.FileRef> refs,
      List<String> notes,
      MemoryBudget.Held given) {
    // The sessions listed to find files by name are in memory until all are found: paid for (up
    // to MAX_EXEC_FILES sessions of MAX_SESSION_FILES files), given back once they are.
    MemoryBudget.Held holder = given != null ? given : memory.hold();
    Room.Counted listed = new Room.Counted(holder);
    try {
      return resolveInputs(principal, refs, notes, listed);
    } finally {
      listed.giveBackAll();
      if (given == null) {
        holder.releaseAll();
      }
    }
  }

  private Map<String, StoredFile> resolveInputs(
      dev.kubecoderun.auth.Principal principal,
      List<ExecCommand.FileRef> refs,
      List<String> notes,
      Room listed) {
    Map<String, StoredFile> inputs = new LinkedHashMap<>();
    Map<String, List<StoredFile>> listings = new HashMap<>();
    for (ExecCommand.FileRef ref : refs) {
      // Another principal's file is "not found", exactly as a file that does not exist.
      Optional<StoredFile> f =
          files.resolve(principal, ref.sessionId(), ref.id(), ref.name(), listings, listed);
      String shown = ref.name() != null ? ref.name() : ref.id();
      if (f.isEmpty()) {
        notes.add("input file '" + shown + "' was not found and is not in /mnt/data");
        continue;
      }
      inputs.remove(ref.name() != null ? ref.name() : f.get().name());
      inputs.put(ref.name() != null ? ref.name() : f.get().name(), f.get());
    }
    checkNoneInside(inputs.keySet());
    // Their sizes are known: inputs that cannot fit on the sandbox's disk are refused now, not as
    // a sandbox failure (503) once the disk is full, which every retry would meet again.
    long bytes = inputs.values().stream().mapToLong(StoredFile::size).sum();
    if (bytes > limits.sandboxDiskBytes()) {
      throw new InputsTooLargeException(inputs.size(), bytes, limits.sandboxDiskBytes());
    }
    return inputs;
  }

  /**
   * Refuses names of which one is a folder of another ({@code a} and {@code a/b}): the runner could
   * place only one of them, and its refusal would end the run as a sandbox failure. In sorted order
   * the names inside {@code a/} follow {@code a/} at once, so each name is compared with one other:
   * a copy and a lookup of each of a name's folders cost, for a deep name, its length squared.
   */
  static void checkNoneInside(java.util.Set<String> names) {
    java.util.TreeSet<String> sorted = new java.util.TreeSet<>(names);
    for (String name : sorted) {
      String folder = name + "/";
      String next = sorted.ceiling(folder);
      if (next != null && next.startsWith(folder)) {
        throw new ConflictingInputsException(name, next);
      }
    }
  }

  /**
   * Places the input; false when its bytes are gone from the store. A store that fails (reading the
   * input) is a storage failure.
   */
  private boolean putInput(Sandbox sandbox, String name, StoredFile file, Duration limit)
      throws SandboxException {
    try {
      Optional<InputStream> in = files.open(file);
      if (in.isEmpty()) {
        return false;
      }
      try (InputStream stream = in.get()) {
        sandbox.runner().putFile(name, stream, limit);
      }
      return true;
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }

  /** What became of the files the run created or modified. */
  private record Outputs(
      List<ExecResponse.OutputFile> stored,
      List<ExecResponse.SkippedFile> skipped,
      List<String> deleted,
      ExecResponse.ArtifactDelivery delivery) {}

  /**
   * Stores each file the run created or modified, in path order, up to MAX_OUTPUT_FILES, while the
   * session holds fewer than MAX_SESSION_FILES, and while they add up to no more than the sandbox's
   * disk holds. A file that cannot be kept (too many, too large, unreadable) is skipped and named,
   * never failing the others; only an unreachable runner or a failing file store ends the run with
   * an error.
   */
  private Outputs storeOutputs(
      ExecCommand cmd,
      Sandbox sandbox,
      Session session,
      RunnerResult result,
      Map<String, StoredFile> inputs,
      List<String> notes,
      Room held,
      List<StoredFile> kept)
      throws SandboxException {
    List<ExecResponse.OutputFile> out = new ArrayList<>();
    List<Long> outSizes = new ArrayList<>(); // of out's files as listed, in order
    List<ExecResponse.SkippedFile> skipped = new ArrayList<>();
    List<RunnerResult.ChangedFile> changed =
        result.changedFiles().stream()
            .sorted(Comparator.comparing(RunnerResult.ChangedFile::path))
            .toList();
    long limit = limits.maxFileSizeBytes();
    // The files were all on the sandbox's disk at once: written whole, they fit it together.
    // Files with holes (f.seek(150 << 20); f.write(b'x')) are larger than what they took of it;
    // counted by their bytes, which are what is stored, they keep no more than it holds either.
    // Counted as read, not as the runner lists them.
    long runLeft = limits.sandboxDiskBytes();
    // Counted under the session's lock, which every run of it holds: no other run adds to it
    // meanwhile. An upload may (it takes no lock): counted again below. The session's bytes are
    // its files' sizes as their records have them (a modified input is kept anew beside its
    // original, which stays: both count, until one is deleted).
    SessionUsage usage = changed.isEmpty() ? SessionUsage.NONE : files.usage(session.id());
    int sessionRoom = Math.max(0, limits.maxSessionFiles() - usage.files());
    long bytesLeft = Math.max(0, limits.maxSessionStorageBytes() - usage.bytes());
    boolean noRoom = false; // once refused, the others are not tried: each would wait in vain
    long end = System.nanoTime() + limits.sandboxTransferTimeout().toNanos();
    for (RunnerResult.ChangedFile f : changed) {
      String name = OutputName.of(f.path());
      if (readOnly(inputs, f.path())) {
        // Sealed (an upload with read_only=true): the client keeps its own reference to the input,
        // which the next run places again as it was.
        notes.add("read-only input '" + name + "' was changed by the run: the change is not kept");
        continue;
      }
      String unusable = OutputName.whyUnusable(name);
      if (unusable != null) {
        // Stored, it would be sent back with every later run of the conversation, each refused.
        notes.add("generated file '" + name + "' not kept: " + unusable);
        skipped.add(new ExecResponse.SkippedFile(name, "unusable_name", f.size(), unusable));
        continue;
      }
      if (out.size() >= limits.maxOutputFiles()) {
        skipped.add(
            new ExecResponse.SkippedFile(
                name,
                "too_many",
                f.size(),
                "at most " + limits.maxOutputFiles() + " files are kept per run"));
        continue;
      }
      if (out.size() >= sessionRoom) {
        skipped.add(sessionFull(name, f.size()));
        continue;
      }
      if (f.size() > limit) {
        skipped.add(tooLarge(name, f.size(), notes));
        continue;
      }
      if (f.size() > runLeft) {
        skipped.add(totalTooLarge(name, f.size(), notes));
        continue;
      }
      if (f.size() > bytesLeft) {
        skipped.add(storageFull(name, f.size(), notes));
        continue;
      }
      if (noRoom) {
        skipped.add(serverBusy(name, f.size(), NOT_TRIED, notes));
        continue;
      }
      StoredFile stored;
      long most = Math.min(limit, Math.min(runLeft, bytesLeft));
      try {
        stored =
            sandbox
                .runner()
                .readFile(
                    f.encodedPath(),
                    left(end, "sending the generated files"),
                    in -> files.storeOutput(cmd.principal(), session.id(), name, in, most, held));
      } catch (TooLargeException e) {
        // Longer than listed: past whichever bound it was read against.
        skipped.add(
            most == limit
                ? tooLarge(name, null, notes)
                : most == runLeft
                    ? totalTooLarge(name, null, notes)
                    : storageFull(name, null, notes));
        continue;
      } catch (MemoryBudgetExhaustedException e) {
        // The run is over and its answer stands: files short of room are skipped, not the run.
        skipped.add(serverBusy(name, f.size(), NO_ROOM, notes));
        noRoom = true;
        continue;
      } catch (RunnerFileException e) {
        notes.add(
            "generated file '" + name + "' not kept: the runner cannot read it: " + e.getMessage());
        skipped.add(new ExecResponse.SkippedFile(name, "unreadable", f.size(), e.getMessage()));
        continue;
      } catch (IOException e) {
        throw new UncheckedIOException(e.getMessage(), e);
      }
      kept.add(stored);
      runLeft -= stored.size();
      bytesLeft -= stored.size();
      StoredFile original = inputs.get(f.path());
      ExecResponse.ModifiedFrom from =
          f.modified() && original != null
              ? new ExecResponse.ModifiedFrom(original.id(), original.sessionId())
              : null;
      out.add(new ExecResponse.OutputFile(stored.id(), stored.name(), session.id(), from));
      outSizes.add(f.size());
    }
    // An upload that ended while these were stored found room by counts taken before them, as
    // this run did before the upload's: counted again, the session's files (or bytes) past the
    // limit are taken back from this run's, the last stored first (an upload does the same with
    // its own).
    if (!out.isEmpty()) {
      SessionUsage now = files.usage(session.id());
      int over = now.files() - limits.maxSessionFiles();
      long bytesOver = now.bytes() - limits.maxSessionStorageBytes();
      for (int i = out.size() - 1; i >= 0 && (over > 0 || bytesOver > 0); i--) {
        ExecResponse.OutputFile o = out.remove(i);
        try {
          files.deleteAnyOwner(session.id(), o.id());
        } catch (IOException e) {
          throw new UncheckedIOException(e.getMessage(), e);
        }
        long size = outSizes.remove(i);
        skipped.add(over > 0 ? sessionFull(o.name(), size) : storageFull(o.name(), size, notes));
        over--;
        bytesOver -= kept.get(i).size(); // kept: out's files as stored, in order
      }
    }
    for (RunnerResult.Unlisted u : result.unlistedPaths()) {
      String name = OutputName.of(u.path());
      if (u.kind() != null && !u.kind().isEmpty()) {
        String why =
            "a " + shortened(u.kind()) + ", not a regular file: only regular files are returned";
        notes.add("'" + name + "' not kept: " + why);
        skipped.add(new ExecResponse.SkippedFile(name, "not_a_file", null, why));
        continue;
      }
      String why = "the runner could not look into it: " + shortened(u.error());
      notes.add("files under '" + name + "' not kept: " + why);
      skipped.add(new ExecResponse.SkippedFile(name, "unreadable", null, why));
    }
    long full = skipped.stream().filter(s -> s.reason().equals("session_full")).count();
    if (full > 0) {
      notes.add(
          full
              + " generated file(s) not kept: the session holds the most files a session may ("
              + limits.maxSessionFiles()
              + "): delete some of its files, or run in a new session");
    }
    long tooMany = skipped.stream().filter(s -> s.reason().equals("too_many")).count();
    // Long: a count near Integer.MAX_VALUE, which only a runner that is not ours sends, must not
    // wrap around.
    long omitted = Math.max(0, result.filesOmitted());
    if (tooMany + omitted > 0) {
      notes.add(
          (tooMany + omitted)
              + " more generated file(s) not kept: at most "
              + limits.maxOutputFiles()
              + " per run");
    }
    List<String> deleted = new ArrayList<>();
    for (String path : result.deletedFiles()) {
      if (readOnly(inputs, path)) {
        notes.add(
            "read-only input '"
                + OutputName.of(path)
                + "' was deleted by the run: it is not reported deleted");
      } else {
        deleted.add(OutputName.of(path));
      }
    }
    return new Outputs(
        out,
        skipped,
        deleted,
        ExecResponse.ArtifactDelivery.of(
            out.size(), (int) Math.min(skipped.size() + omitted, Integer.MAX_VALUE - out.size())));
  }

  /**
   * A runner's text for an answer: its first {@link RunnerClient#MAX_RUNNER_TEXT} characters, and
   * "..." when it was longer.
   */
  static String shortened(String text) {
    return text == null ? "" : shorter(text, RunnerClient.MAX_RUNNER_TEXT);
  }

  /**
   * What is left of a phase that must end at {@code end} (System.nanoTime) for its next call to the
   * runner: SANDBOX_TRANSFER_TIMEOUT_SECONDS bounds all the files of a phase together, so a runner
   * that trickles them (on Kubernetes it shares its pod with user code) cannot hold the run's slot,
   * session and sandbox for long.
   */
  private Duration left(long end, String what) throws SandboxException {
    long left = end - System.nanoTime();
    if (left <= 0) {
      throw new SandboxException(
          "the sandbox's runner did not finish "
              + what
              + " within "
              + limits.sandboxTransferTimeout().toSeconds()
              + " s: the sandbox is given up");
    }
    return Duration.ofNanos(left);
  }

  /** True when the run was given a read-only input at {@code path}. */
  private static boolean readOnly(Map<String, StoredFile> inputs, String path) {
    StoredFile input = inputs.get(path);
    return input != null && input.readOnly();
  }

  static final String NO_ROOM = "the server had no memory to spare for it: run again to get it";
  static final String NOT_TRIED =
      "not tried: the server had no memory to spare for an earlier file of this run: run again";

  private static ExecResponse.SkippedFile serverBusy(
      String name, Long size, String why, List<String> notes) {
    notes.add("generated file '" + name + "' not kept: " + why);
    return new ExecResponse.SkippedFile(name, "server_busy", size, why);
  }

  private ExecResponse.SkippedFile sessionFull(String name, long size) {
    return new ExecResponse.SkippedFile(
        name,
        "session_full",
        size,
        "the session holds the most files a session may ("
            + limits.maxSessionFiles()
            + "): delete some of its files, or run in a new session");
  }

  private ExecResponse.SkippedFile storageFull(String name, Long size, List<String> notes) {
    String why =
        "kept, the session's files would take more than the "
            + (limits.maxSessionStorageBytes() >> 20)
            + " MiB a session may hold: delete some of its files, or run in a new session";
    notes.add("generated file '" + name + "' not kept: " + why);
    return new ExecResponse.SkippedFile(name, "session_storage_full", size, why);
  }

  private ExecResponse.SkippedFile tooLarge(String name, Long size, List<String> notes) {
    String limit = (limits.maxFileSizeBytes() >> 20) + " MiB";
    notes.add(
        "generated file '" + name + "' not kept: larger than the file size limit (" + limit + ")");
    return new ExecResponse.SkippedFile(
        name, "too_large", size, "larger than the file size limit (" + limit + ")");
  }

  private ExecResponse.SkippedFile totalTooLarge(String name, Long size, List<String> notes) {
    String why =
        "the run's generated files together would be over the "
            + mebibytesUp(limits.sandboxDiskBytes())
            + " MiB of its sandbox's disk";
    notes.add("generated file '" + name + "' not kept: " + why);
    return new ExecResponse.SkippedFile(name, "total_too_large", size, why);
  }

  private record StoredStateInfo(boolean has, Integer size, String hash) {
    static final StoredStateInfo NONE = new StoredStateInfo(false, null, null);
  }

  /**
   * Saves the state the run captured; a failed run (unless STATE_CAPTURE_ON_ERROR) keeps {@code
   * loaded}, the state it started from: the session was held since, so nothing else wrote it. A run
   * that captured none, or one larger than {@link #maxStateBytes} (the runner keeps it back, with a
   * state error), leaves the session without state: the answer says has_state false, and the next
   * run starts without variables rather than with those of an older run, which the code of this one
   * may have changed since.
   */
  private StoredStateInfo saveState(
      Session session, Optional<StoredState> loaded, RunnerResult result, List<String> notes)
      throws SandboxException {
    boolean ok = result.exitCode() == 0 && !result.timedOut();
    if (!ok && !stateConfig.captureOnError()) {
      return loaded.map(ExecutionService::info).orElse(StoredStateInfo.NONE);
    }
    // The model reading the answer would otherwise expect a variable the next run no longer has.
    if (result.stateErrors() != null) {
      for (String error : result.stateErrors()) {
        if (error != null) {
          notes.add(stateNote(error));
        }
      }
    }
    if (result.state() == null || result.state().isEmpty()) {
      states.delete(session.id());
      return StoredStateInfo.NONE;
    }
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(result.state());
    } catch (IllegalArgumentException e) {
      // The runner only sends base64: this answer is not our runner's.
      throw new SandboxException("the runner's state is not base64: " + e.getMessage(), e);
    }
    if (bytes.length > maxStateBytes()) {
      // A runner that ignored max_state_bytes. As when the runner keeps it back: the session's
      // previous state goes too (the answer says has_state false, so the next run must find none).
      notes.add(stateNote(stateTooLarge(bytes.length, maxStateBytes())));
      states.delete(session.id());
      return StoredStateInfo.NONE;
    }
    states.save(session.id(), bytes);
    return new StoredStateInfo(true, bytes.length, StateHash.of(bytes));
  }

  private static StoredStateInfo info(StoredState s) {
    return new StoredStateInfo(true, s.bytes().length, s.hash());
  }

  private ExecResponse respond(
      Session session, RunnerResult r, Outputs outputs, StoredStateInfo state, List<String> notes) {
    String status = r.timedOut() ? "timeout" : r.exitCode() == 0 ? "ok" : "error";
    StringBuilder stderr =
        new StringBuilder(
            OutputText.clean(r.stderr(), r.stderrTruncated(), limits.maxOutputBytes(), false));
    if (r.timedOut()) {
      appendLine(
          stderr,
          "Execution timed out after " + limits.maxExecutionTime().toSeconds() + " seconds");
    } else if (r.exitCode() != 0 && stderr.isEmpty()) {
      appendLine(stderr, "Code execution failed with exit code " + r.exitCode());
    }
    // One line per file not kept, at most: a listing of thousands (too large, say) would bury
    // the code's own stderr.
    for (String note : notes.subList(0, Math.min(notes.size(), MAX_NOTES))) {
      appendLine(stderr, "[kubecoderun] " + note);
    }
    if (notes.size() > MAX_NOTES) {
      appendLine(
          stderr,
          "[kubecoderun] "
              + (notes.size() - MAX_NOTES)
              + " more note(s) not shown (skipped_files names every file not kept)");
    }
    return new ExecResponse(
        session.id(),
        OutputText.clean(r.stdout(), r.stdoutTruncated(), limits.maxOutputBytes(), true),
        stderr.toString(),
        outputs.stored(),
        outputs.deleted(),
        status,
        r.exitCode(),
        r.signal(),
        Math.round(r.durationMs()),
        state.has(),
        state.size(),
        state.hash(),
        outputs.skipped(),
        outputs.delivery());
  }

  /**
   * How the runner's state error for a state over max_state_bytes starts (docs/runner-protocol.md):
   * "the Python state (X MiB) is larger than the Y MiB this deployment keeps".
   */
  static final String STATE_TOO_LARGE = "the Python state (";

  /** What a state not kept for its size means for the next run: none is kept (see saveState). */
  static final String NO_STATE_NOW = "; the next run starts without variables";

  /**
   * The state error of a state of {@code size} bytes over the {@code limit} a run keeps, worded as
   * the runner words its own (its twin, runner/execute.go stateTooLarge; the API knows either by
   * its start, {@link #STATE_TOO_LARGE}): for a runner that sent such a state anyway.
   */
  static String stateTooLarge(long size, long limit) {
    return STATE_TOO_LARGE
        + megabytes(size, true)
        + " MiB) is larger than the "
        + megabytes(limit, false)
        + " MiB this deployment keeps";
  }

  /** The note for a state error, the runner's or {@link #stateTooLarge}'s: what it means. */
  private static String stateNote(String error) {
    String shown = shorter(error, MAX_STATE_ERROR_CHARS);
    if (error.startsWith("Cannot serialize")) {
      return "not kept for the next run: " + shown;
    }
    if (error.startsWith(STATE_TOO_LARGE)) {
      return "not kept for the next run: " + shown + NO_STATE_NOW;
    }
    return "Python state: " + shown;
  }

  /**
   * {@code bytes} in MiB, to a tenth, rounded up or down (as the runner does: a state just over the
   * limit never reads as its equal).
   */
  private static String megabytes(long bytes, boolean up) {
    double tenths = bytes * 10 / (double) (1 << 20);
    return String.format(
        java.util.Locale.ROOT, "%.1f", (up ? Math.ceil(tenths) : Math.floor(tenths)) / 10);
  }

  /** The most {@code [kubecoderun]} lines an answer's stderr gets. */
  static final int MAX_NOTES = 100;

  /** A state error is the runner's one-line "Cannot serialize 'x' (type): message". */
  static final int MAX_STATE_ERROR_CHARS = 300;

  /** {@code text}, cut at {@code max} characters, with "..." when it was ({@link Texts#cut}). */
  static String shorter(String text, int max) {
    return Texts.cut(text, max, "...");
  }

  private static void appendLine(StringBuilder sb, String line) {
    if (!sb.isEmpty() && sb.charAt(sb.length() - 1) != '\n') {
      sb.append('\n');
    }
    sb.append(line);
  }
}
