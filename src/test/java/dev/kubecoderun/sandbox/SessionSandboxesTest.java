package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.SandboxPoolTest.FakeFactory;
import dev.kubecoderun.sandbox.SandboxPoolTest.FakeSandbox;
import dev.kubecoderun.testing.Eventually;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Sandboxes kept for a session between its runs, with a fake pool and a recorded reset. */
class SessionSandboxesTest {
  private final FakeFactory factory = new FakeFactory();
  private final SandboxPool pool = new SandboxPool(factory, l -> 0, 2, Duration.ZERO);
  private final AtomicLong now = new AtomicLong(1_000_000_000_000L);
  private final List<String> resets = new CopyOnWriteArrayList<>();

  private SessionSandboxes sessions(int maxRuns, int maxKept) {
    return sessions(maxRuns, maxKept, s -> resets.add(s.id()));
  }

  private SessionSandboxes sessions(int maxRuns, int maxKept, SessionSandboxes.Resetter reset) {
    return new SessionSandboxes(pool, Duration.ofSeconds(60), maxRuns, maxKept, now::get, reset);
  }

  @Test
  void theNextRunOfTheSessionGetsItsSandboxResetAndNoOtherSessionDoes() throws Exception {
    try (SessionSandboxes kept = sessions(100, 10)) {
      Sandbox s = pool.acquire(Language.PY);
      kept.keep("session-a/py", s);
      assertTrue(kept.take("session-b/py").isEmpty(), "never another session's");
      assertTrue(kept.take("session-a/js").isEmpty(), "nor another language's");
      Sandbox again = kept.take("session-a/py").orElseThrow();
      assertSame(s, again);
      assertEquals(List.of(s.id()), resets, "reset before it is used again");
      assertTrue(kept.take("session-a/py").isEmpty(), "taken: no longer kept");
      kept.release(again);
      Eventually.await("destroyed", Duration.ofSeconds(5), () -> ((FakeSandbox) s).closed.get());
    }
  }

  /** A backend that refuses sandboxes now gets a kept one back instead of handing it out. */
  @Test
  void aKeptSandboxIsNotHandedOutWhileTheBackendRefuses() throws Exception {
    try (SessionSandboxes kept = sessions(100, 10)) {
      FakeSandbox s = (FakeSandbox) pool.acquire(Language.PY);
      kept.keep("session-a/py", s);
      factory.refusal = "the NetworkPolicy is not enforced";
      assertTrue(kept.take("session-a/py").isEmpty(), "not handed out");
      Eventually.await("destroyed", Duration.ofSeconds(5), () -> s.closed.get());
    }
  }

  @Test
  void aKeptSandboxGoesWhenIdleDeadOrUsedUpOrTheLeastRecentlyUsedOverTheCap() throws Exception {
    try (SessionSandboxes kept = sessions(2, 2)) {
      FakeSandbox a = (FakeSandbox) pool.acquire(Language.PY);
      kept.keep("a/py", a);
      assertSame(a, kept.take("a/py").orElseThrow());
      kept.keep("a/py", a); // its second run: maxRuns reached, given back
      Eventually.await("used up", Duration.ofSeconds(5), () -> a.closed.get());
      assertTrue(kept.take("a/py").isEmpty());

      FakeSandbox b = (FakeSandbox) pool.acquire(Language.PY);
      FakeSandbox c = (FakeSandbox) pool.acquire(Language.PY);
      FakeSandbox d = (FakeSandbox) pool.acquire(Language.PY);
      kept.keep("b/py", b);
      now.addAndGet(1_000_000);
      kept.keep("c/py", c);
      now.addAndGet(1_000_000);
      kept.keep("d/py", d); // over maxKept 2: b, the least recently kept, goes
      Eventually.await("b evicted", Duration.ofSeconds(5), () -> b.closed.get());
      assertFalse(c.closed.get() || d.closed.get());

      c.die();
      assertTrue(kept.take("c/py").isEmpty(), "a dead one is not handed out");
      Eventually.await("c destroyed", Duration.ofSeconds(5), () -> c.closed.get());

      now.addAndGet(Duration.ofSeconds(61).toNanos());
      Eventually.await("d expired", Duration.ofSeconds(10), () -> d.closed.get());
      assertEquals(0, kept.stats().get("kept"));
    }
  }

  /**
   * A backend whose cap is full (K8S_MAX_JOBS, every slot held by a Job kept idle for its session)
   * gets the least recently used kept sandbox of the kind it needs given back, so the run waiting
   * for a slot need not wait for the idle one to expire; the others stay kept.
   */
  @Test
  void theLeastRecentlyUsedKeptSandboxOfAKindIsGivenBackWhenTheBackendAsks() throws Exception {
    try (SessionSandboxes kept = sessions(100, 10)) {
      FakeSandbox c1 = (FakeSandbox) pool.acquire(Language.C);
      FakeSandbox py = (FakeSandbox) pool.acquire(Language.PY);
      FakeSandbox c2 = (FakeSandbox) pool.acquire(Language.C);
      kept.keep("a/c", c1);
      now.addAndGet(1_000_000);
      kept.keep("b/py", py);
      now.addAndGet(1_000_000);
      kept.keep("c/c", c2);

      assertTrue(kept.giveBackOldest(s -> s.language() == Language.C));
      Eventually.await("the oldest c one destroyed", Duration.ofSeconds(5), () -> c1.closed.get());
      assertTrue(kept.take("a/c").isEmpty(), "no longer kept");
      assertFalse(c2.closed.get() || py.closed.get(), "the others stay");

      assertTrue(kept.giveBackOldest(s -> s.language() == Language.C));
      assertFalse(kept.giveBackOldest(s -> s.language() == Language.C), "none of that kind left");
      assertSame(py, kept.take("b/py").orElseThrow());
    }
  }

  @Test
  void aTakeInterruptedWhileTheResetRunsGivesTheSandboxBack() throws Exception {
    var resetting = new java.util.concurrent.CountDownLatch(1);
    try (SessionSandboxes kept =
        sessions(
            100,
            10,
            s -> {
              resetting.countDown();
              try {
                Thread.sleep(60_000);
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
            })) {
      FakeSandbox s = (FakeSandbox) pool.acquire(Language.PY);
      kept.keep("a/py", s);
      resetting.await();
      Thread.currentThread().interrupt();
      assertThrows(InterruptedException.class, () -> kept.take("a/py"));
      assertFalse(Thread.interrupted(), "get() clears the interrupt as it throws");
      Eventually.await("given back", Duration.ofSeconds(5), () -> s.closed.get());
      assertTrue(kept.take("a/py").isEmpty());
    }
  }

  @Test
  void aSandboxWhoseResetFailsIsNotUsedAgain() throws Exception {
    try (SessionSandboxes kept =
        sessions(
            100,
            10,
            s -> {
              throw new SandboxException("runner gone");
            })) {
      FakeSandbox s = (FakeSandbox) pool.acquire(Language.PY);
      kept.keep("a/py", s);
      assertTrue(kept.take("a/py").isEmpty());
      Eventually.await("destroyed", Duration.ofSeconds(5), () -> s.closed.get());
      assertEquals(1L, kept.stats().get("reset_failures"));
    }
  }
}
