package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.testing.Eventually;
import dev.kubecoderun.testing.LogCapture;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.logging.Level;
import org.junit.jupiter.api.Test;

/** The pool's logic with a fake factory (no processes): refill, dead sandboxes, cold starts. */
class SandboxPoolTest {
  static final class FakeSandbox extends AbstractSandbox {
    final boolean warm;
    final AtomicBoolean alive = new AtomicBoolean(true);
    final AtomicBoolean closed = new AtomicBoolean();
    final AtomicBoolean closeInterrupted = new AtomicBoolean();
    volatile long closeMillis; // how long a destroy takes (a delete call, say)
    final List<Runnable> exitCallbacks = new CopyOnWriteArrayList<>();

    final AtomicBoolean retired = new AtomicBoolean();

    void die() {
      alive.set(false);
      exitCallbacks.forEach(Runnable::run);
    }

    /** Too old for a run (a Kubernetes pod near its deadline): no longer alive for one. */
    void retire() {
      retired.set(true);
      die();
    }

    @Override
    public boolean retired() {
      return retired.get();
    }

    FakeSandbox(String id, Language language, boolean warm) {
      super(id, language, null);
      this.warm = warm;
    }

    @Override
    public boolean isAlive() {
      return alive.get();
    }

    @Override
    public void onExit(Runnable callback) {
      exitCallbacks.add(callback);
      // As the real ones: a sandbox already dead calls back at once (the pool registers its
      // callback just after it shows the sandbox as ready, so a test may kill it in between).
      if (!alive.get()) {
        callback.run();
      }
    }

    @Override
    public void close() {
      if (closeMillis > 0) {
        try {
          Thread.sleep(closeMillis);
        } catch (InterruptedException e) {
          closeInterrupted.set(true); // a real delete would have been aborted
          Thread.currentThread().interrupt();
          return;
        }
      }
      closed.set(true);
    }
  }

  static final class FakeFactory implements SandboxFactory {
    final List<FakeSandbox> created = new CopyOnWriteArrayList<>();
    final AtomicInteger counter = new AtomicInteger();
    volatile boolean failing;
    final List<Long> warmTries = new CopyOnWriteArrayList<>(); // when (nanoTime) a pool start began
    volatile long startMillis; // how long a start takes
    volatile long closeMillis; // how long a destroy takes
    volatile String refusal; // why no sandbox may be handed out now (null: they may)

    @Override
    public String refusal() {
      return refusal;
    }

    @Override
    public Sandbox create(Language language, boolean warm) throws SandboxException {
      if (warm) {
        warmTries.add(System.nanoTime());
      }
      if (failing) {
        throw new SandboxException("broken toolchain");
      }
      if (startMillis > 0) {
        try {
          Thread.sleep(startMillis);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new SandboxException("interrupted");
        }
      }
      FakeSandbox s = new FakeSandbox("s" + counter.incrementAndGet(), language, warm);
      s.closeMillis = closeMillis;
      created.add(s);
      return s;
    }

    @Override
    public String name() {
      return "fake";
    }
  }

  private static int starting(SandboxPool pool, Language language) {
    return pool.states().stream()
        .filter(p -> p.language().equals(language.code()))
        .findFirst()
        .orElseThrow()
        .starting();
  }

  private static void eventually(java.util.function.BooleanSupplier condition)
      throws InterruptedException {
    Eventually.await("the pool's condition", Duration.ofSeconds(5), condition);
  }

  /**
   * Following demand: a language without a pool gets one once used (1 in use x a 1.2 s start = 2),
   * and the pools with the sandboxes in use stay within the cap.
   */
  @Test
  void followingDemandALanguageGetsThePoolItsUseNeedsWithinTheCap() throws Exception {
    FakeFactory factory = new FakeFactory();
    factory.startMillis = 1200;
    try (SandboxPool pool =
        new SandboxPool(
            factory,
            l -> 0,
            4,
            Duration.ofSeconds(5),
            3,
            dev.kubecoderun.metrics.Metrics.unbound())) {
      pool.start();
      Sandbox first = pool.acquire(Language.GO);
      assertFalse(((FakeSandbox) first).warm, "no pool yet: started for the run");
      eventually(() -> pool.readyCount(Language.GO) == 2);
      @SuppressWarnings("unchecked")
      var go =
          (java.util.Map<String, Object>)
              ((java.util.Map<String, Object>) pool.stats().get("pools")).get("go");
      assertEquals(2, go.get("target"));
      Sandbox second = pool.acquire(Language.GO);
      assertTrue(((FakeSandbox) second).warm, "from the pool");
      // 2 in use (peak 2 x 1.2 s = 3 wanted), the cap 3: room for 1 ready. The take started
      // every refill it wanted before it returned (nothing else starts one for 10 s): once none is
      // starting, all it started are counted.
      eventually(() -> starting(pool, Language.GO) == 0 && pool.readyCount(Language.GO) > 0);
      assertEquals(1, pool.readyCount(Language.GO));
      assertEquals(3, factory.created.stream().filter(c -> !c.closed.get()).count());
      pool.release(first);
      pool.release(second);
    }
  }

  /**
   * A backend that refuses sandboxes for now (Kubernetes: its NetworkPolicy not shown enforced yet)
   * may have its pool filled, but no run gets one of them, nor a new one, until it allows them.
   */
  @Test
  void warmSandboxesMadeWhileTheBackendRefusesAreNotHandedOutUntilItAllows() throws Exception {
    FakeFactory factory = new FakeFactory();
    factory.refusal = "not checked yet";
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 2 : 0, 2, Duration.ofSeconds(1))) {
      pool.start();
      eventually(() -> pool.readyCount(Language.PY) == 2);
      SandboxException e = assertThrows(SandboxException.class, () -> pool.acquire(Language.PY));
      assertEquals("not checked yet", e.getMessage());
      assertThrows(SandboxException.class, () -> pool.acquire(Language.GO), "none made for it");
      assertEquals(2, pool.readyCount(Language.PY), "the warm ones stay in the pool");
      assertEquals(2, factory.created.size(), "no sandbox made for the refused runs");
      factory.refusal = null;
      Sandbox taken = pool.acquire(Language.PY);
      assertTrue(((FakeSandbox) taken).warm, "from the pool, once allowed");
      pool.release(taken);
    }
  }

  @Test
  void fillsToTargetAndReplacesEachTakenSandbox() throws Exception {
    FakeFactory factory = new FakeFactory();
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 2 : 0, 2, Duration.ofSeconds(1))) {
      pool.start();
      eventually(() -> pool.readyCount(Language.PY) == 2);
      Sandbox taken = pool.acquire(Language.PY);
      assertTrue(((FakeSandbox) taken).warm, "pooled sandboxes are warm");
      eventually(() -> pool.readyCount(Language.PY) == 2);
      assertEquals(3, factory.created.size());
      pool.release(taken);
      eventually(((FakeSandbox) taken).closed::get);
    }
  }

  @Test
  void aRequestWaitingForTheRefillStillTriggersTheNextRefill() throws Exception {
    FakeFactory factory = new FakeFactory();
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 1 : 0, 1, Duration.ofSeconds(5))) {
      pool.start();
      for (int i = 0; i < 20; i++) {
        // Taken while its replacement is still starting: the caller waits for that one.
        pool.release(pool.acquire(Language.PY));
      }
      eventually(() -> pool.readyCount(Language.PY) == 1);
      assertEquals(0L, pool.stats().get("misses"), "every request got a pooled sandbox");
    }
  }

  @Test
  void neverHandsOutADeadSandbox() throws Exception {
    FakeFactory factory = new FakeFactory();
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.JS ? 1 : 0, 1, Duration.ofSeconds(2))) {
      pool.start();
      eventually(() -> pool.readyCount(Language.JS) == 1);
      FakeSandbox first = factory.created.get(0);
      first.alive.set(false);
      Sandbox s = pool.acquire(Language.JS);
      assertNotSame(first, s);
      assertTrue(s.isAlive());
      eventually(first.closed::get);
    }
  }

  @Test
  void aSandboxThatDiesWhileWaitingIsReplacedWithoutARequest() throws Exception {
    FakeFactory factory = new FakeFactory();
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 1 : 0, 1, Duration.ofSeconds(1))) {
      pool.start();
      eventually(() -> pool.readyCount(Language.PY) == 1);
      FakeSandbox first = factory.created.get(0);
      first.die();
      eventually(() -> factory.created.size() == 2 && pool.readyCount(Language.PY) == 1);
      assertTrue(first.closed.get());
      assertTrue(pool.acquire(Language.PY).isAlive());
    }
  }

  /** A retired sandbox is replaced as a dead one is, but its expected end is no warning. */
  @Test
  void aRetiredSandboxIsReplacedWithoutAWarningADeadOneWithOne() throws Exception {
    FakeFactory factory = new FakeFactory();
    try (LogCapture log = LogCapture.of(SandboxPool.class);
        SandboxPool pool =
            new SandboxPool(factory, l -> l == Language.PY ? 1 : 0, 1, Duration.ofSeconds(1))) {
      pool.start();
      eventually(() -> pool.readyCount(Language.PY) == 1);
      FakeSandbox first = factory.created.get(0);
      first.retire();
      eventually(() -> factory.created.size() == 2 && pool.readyCount(Language.PY) == 1);
      assertTrue(first.closed.get());
      FakeSandbox second = factory.created.get(1);
      second.die();
      eventually(() -> factory.created.size() == 3 && pool.readyCount(Language.PY) == 1);

      assertEquals(
          List.of(
              Level.INFO + " warm sandbox " + first.id() + " is too old for a run; replacing it",
              Level.WARNING + " warm sandbox " + second.id() + " died; replacing it"),
          log.records().stream()
              .filter(r -> r.getMessage().startsWith("warm sandbox"))
              .map(r -> r.getLevel() + " " + r.getMessage())
              .toList());
    }
  }

  @Test
  void languagesWithoutAPoolStartColdOnDemand() throws Exception {
    FakeFactory factory = new FakeFactory();
    try (SandboxPool pool = new SandboxPool(factory, l -> 0, 1, Duration.ofSeconds(1))) {
      pool.start();
      Sandbox s = pool.acquire(Language.GO);
      assertFalse(((FakeSandbox) s).warm);
      assertEquals(Language.GO, s.language());
      assertEquals(1, factory.created.size());
    }
  }

  @Test
  void aBrokenFactoryIsReportedNotHidden() throws Exception {
    FakeFactory factory = new FakeFactory();
    factory.failing = true;
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 1 : 0, 1, Duration.ofMillis(100))) {
      pool.start();
      assertThrows(SandboxException.class, () -> pool.acquire(Language.PY));
    }
  }

  /**
   * A language whose starts keep failing at once (an image that cannot be pulled fails its start in
   * seconds) is tried ever more seldom, up to a cap, not every few seconds for good; once a start
   * works again, the pool fills within that cap.
   */
  @Test
  void aLanguageWhoseStartsKeepFailingIsTriedEverMoreSeldom() throws Exception {
    FakeFactory factory = new FakeFactory();
    factory.failing = true;
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 1 : 0, 2, Duration.ofMillis(100))) {
      pool.retryDelays(Duration.ofMillis(50), Duration.ofMillis(800));
      pool.start();
      // Tried at 0, then 50, 100, 200, 400 and 800 ms after each failure.
      Eventually.await("six tries", Duration.ofSeconds(10), () -> factory.warmTries.size() >= 6);
      List<Long> tries = List.copyOf(factory.warmTries);
      long lastGap = tries.get(5) - tries.get(4);
      assertTrue(
          lastGap >= Duration.ofMillis(700).toNanos(),
          "the sixth try came " + Duration.ofNanos(lastGap).toMillis() + " ms after the fifth");

      factory.failing = false;
      Eventually.await("refilled", Duration.ofSeconds(5), () -> pool.readyCount(Language.PY) == 1);
    }
  }

  /**
   * The starts of one round, failing together, are one failure: a pool of three is tried again
   * after 200, 400, 800 ms (four rounds in 1.4 s), not after 800 ms and then 6.4 s (each failed
   * start doubling the wait).
   */
  @Test
  void theStartsOfOneRoundFailingTogetherBackOffOnce() throws Exception {
    FakeFactory factory = new FakeFactory();
    factory.failing = true;
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 3 : 0, 3, Duration.ofMillis(100))) {
      pool.retryDelays(Duration.ofMillis(200), Duration.ofSeconds(30));
      pool.start();
      Eventually.await(
          "four rounds of three tries",
          Duration.ofSeconds(4),
          () -> factory.warmTries.size() >= 12);
    }
  }

  /**
   * While a pool backs off with nothing starting, a request does not wait for it: it starts a
   * sandbox on demand at once; and a start that works ends the back-off, so the pool fills again
   * without waiting it out.
   */
  @Test
  void aRequestDuringTheBackOffStartsOneAtOnceAndItsSuccessEndsTheBackOff() throws Exception {
    FakeFactory factory = new FakeFactory();
    factory.failing = true;
    try (SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 1 : 0, 1, Duration.ofSeconds(60))) {
      pool.retryDelays(Duration.ofMinutes(5), Duration.ofMinutes(5));
      pool.start();
      eventually(() -> factory.warmTries.size() == 1 && starting(pool, Language.PY) == 0);

      factory.failing = false;
      Sandbox s =
          assertTimeoutPreemptively(
              Duration.ofSeconds(30), () -> pool.acquire(Language.PY), "not the 60 s pool wait");
      assertFalse(((FakeSandbox) s).warm, "started on demand");
      eventually(() -> pool.readyCount(Language.PY) == 1); // not after the 5 min back-off
    }
  }

  @Test
  void closingDestroysReadySandboxes() throws Exception {
    FakeFactory factory = new FakeFactory();
    SandboxPool pool =
        new SandboxPool(factory, l -> l == Language.PY ? 2 : 0, 2, Duration.ofSeconds(1));
    pool.start();
    eventually(() -> pool.readyCount(Language.PY) == 2);
    pool.close();
    assertTrue(factory.created.stream().allMatch(s -> s.closed.get()));
    assertThrows(SandboxException.class, () -> pool.acquire(Language.PY));
  }

  /**
   * A used sandbox given back just before the stop (a session's kept pod, say): its destroy
   * finishes before close returns, not interrupted (an interrupted delete call leaves the pod).
   */
  @Test
  void closingLetsTheDestroyOfAReleasedSandboxFinish() throws Exception {
    FakeFactory factory = new FakeFactory();
    factory.closeMillis = 300;
    SandboxPool pool = new SandboxPool(factory, l -> 0, 2, Duration.ofSeconds(1));
    pool.start();
    FakeSandbox used = (FakeSandbox) pool.acquire(Language.PY);
    pool.release(used);
    pool.close();
    assertFalse(used.closeInterrupted.get(), "its destroy was interrupted");
    assertTrue(used.closed.get(), "destroyed before close returned");
  }
}
