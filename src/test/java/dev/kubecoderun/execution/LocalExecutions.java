package dev.kubecoderun.execution;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.files.LocalFileMetadataStore;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.memory.MemoryBudget;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.sandbox.SandboxFactory;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.session.LocalSessionStore;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionStore;
import dev.kubecoderun.session.SessionsAndFiles;
import dev.kubecoderun.state.LocalStateStore;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;

/**
 * An ExecutionService as the tests of runs build it, without the Application: the local stores
 * under {@code dir}, the test's sandboxes, slots, session locks and memory budget, small limits (1
 * s runs and transfers, 1 MiB outputs and files), no Python state.
 */
final class LocalExecutions {
  /** SANDBOX_TRANSFER_TIMEOUT_SECONDS of these services. */
  static final Duration TRANSFER = Duration.ofSeconds(1);

  private LocalExecutions() {}

  /**
   * A pool of no sandbox: its factory fails every one ("no sandbox in this test"), for a test whose
   * runs never get that far. The test closes it.
   */
  static SandboxPool noSandboxes() {
    SandboxFactory none =
        new SandboxFactory() {
          @Override
          public Sandbox create(Language language, boolean warm) throws SandboxException {
            throw new SandboxException("no sandbox in this test");
          }

          @Override
          public String name() {
            return "none";
          }
        };
    return new SandboxPool(none, l -> 0, 1, Duration.ofSeconds(1));
  }

  /** Its sessions in a local store under {@code dir}, no principal's runs capped. */
  static ExecutionService service(
      Path dir, SandboxPool pool, ExecutionSlots slots, SessionLocks locks, MemoryBudget memory) {
    return service(
        dir,
        new LocalSessionStore(dir, Clock.systemUTC()),
        pool,
        slots,
        locks,
        memory,
        PrincipalRuns.uncapped());
  }

  /** With the sessions in {@code sessionStore}, the principals' runs capped by {@code runs}. */
  static ExecutionService service(
      Path dir,
      SessionStore sessionStore,
      SandboxPool pool,
      ExecutionSlots slots,
      SessionLocks locks,
      MemoryBudget memory,
      PrincipalRuns runs) {
    Clock clock = Clock.systemUTC();
    LocalStateStore states = new LocalStateStore(dir, Duration.ofHours(1), clock);
    LocalFileMetadataStore metadata = new LocalFileMetadataStore(dir);
    LocalObjectStore objects = new LocalObjectStore(dir);
    SessionsAndFiles wired =
        SessionsAndFiles.wire(
            sessionStore,
            metadata,
            objects,
            states,
            locks,
            clock,
            Duration.ZERO,
            Duration.ofSeconds(5));
    Config.Limits limits =
        new Config.Limits(
            Duration.ofSeconds(1),
            1 << 20,
            10,
            20,
            5000,
            4L << 30,
            1 << 20,
            1 << 20,
            Math.max(1, slots.capacity()),
            Math.max(1, slots.capacity()),
            0,
            Duration.ofSeconds(1),
            100,
            32,
            memory.capacity(),
            1 << 30,
            TRANSFER);
    Config.State state =
        new Config.State(
            false,
            Duration.ofHours(1),
            false,
            1 << 20,
            false,
            Duration.ofHours(1),
            Duration.ofDays(1),
            Duration.ofHours(1));
    return new ExecutionService(
        wired.sessions(),
        wired.files(),
        states,
        pool,
        slots,
        limits,
        state,
        locks,
        // A run waits this long for its session's lock: a test holding one has time to act.
        Duration.ofSeconds(10),
        null,
        memory,
        runs);
  }
}
