package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.Eventually;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;
import org.junit.jupiter.api.Test;

/**
 * A sandbox pod with too little of its activeDeadlineSeconds left for a run counts as dead: the
 * pool does not hand it out, a session does not keep it, and either replaces it, rather than a run
 * being killed halfway by Kubernetes (a 503, its outputs and state lost).
 */
class PodLifetimeTest {
  private static final Duration DEADLINE = Duration.ofSeconds(3600); // K8S_POD_ACTIVE_DEADLINE

  /** What a run may use of a pod (SandboxUse.ofARun), here a short one's. */
  private static final Duration NEEDED = Duration.ofSeconds(30 + 15 + 60);

  /** This API's monotonic clock, in nanoseconds: any start, and it may wrap. */
  private static final class NanoClock implements LongSupplier {
    private final long start;
    private volatile long now;

    NanoClock(long start) {
      this.start = start;
      this.now = start;
    }

    /** The time since the pod's creation was asked for. */
    void at(Duration sinceStart) {
      now = start + sinceStart.toNanos();
    }

    @Override
    public long getAsLong() {
      return now;
    }
  }

  @Test
  void aPodIsGoodForARunUntilLessThanARunIsLeftOfItsDeadline() {
    NanoClock clock = new NanoClock(123_456_789L);
    PodLifetime lifetime = PodLifetime.startingNow(clock, DEADLINE, NEEDED);

    assertTrue(lifetime.enoughForARun(), "new");
    clock.at(DEADLINE.minus(NEEDED));
    assertTrue(lifetime.enoughForARun(), "exactly a run left");
    clock.at(DEADLINE.minus(NEEDED).plusSeconds(1));
    assertFalse(lifetime.enoughForARun(), "a second short of a run");
    clock.at(DEADLINE.minusSeconds(10)); // the reviewer's warm pod at ~3590 s
    assertFalse(lifetime.enoughForARun(), "10 s left");
  }

  /** nanoTime may be anywhere, even about to wrap: only differences of it mean anything. */
  @Test
  void theAgeIsADifferenceOfTheMonotonicClockEvenWhereItWraps() {
    NanoClock clock = new NanoClock(Long.MAX_VALUE - Duration.ofSeconds(60).toNanos());
    PodLifetime lifetime = PodLifetime.startingNow(clock, DEADLINE, NEEDED);

    assertTrue(lifetime.enoughForARun(), "new, its death past the wrap");
    clock.at(DEADLINE.minus(NEEDED).plusSeconds(1));
    assertFalse(lifetime.enoughForARun(), "a second short of a run, after the wrap");
  }

  /** The sandbox's own answer, which the pool's take and the session's take and keep ask. */
  @Test
  void aRunningPodNearItsDeadlineIsNotAliveForTheNextRun() {
    try (HandFedSandboxes sandboxes = new HandFedSandboxes()) {
      NanoClock clock = new NanoClock(0);
      KubernetesSandbox sandbox = runningSandbox(sandboxes, "kcr-py-1", clock);

      assertTrue(sandbox.isAlive());
      clock.at(DEADLINE.minusSeconds(10));
      assertFalse(sandbox.isAlive(), "running, but Kubernetes kills it within the run");
    }
  }

  /**
   * A pool pod that has come to the end of its useful life is reported gone then, with no request
   * asking: the pool replaces it ahead of time rather than counting it ready while it can serve no
   * run, and a request finding only such pods waits for a new one.
   */
  @Test
  void aPodIsReportedGoneAsSoonAsItIsTooOldForARunWithNoRequestAsking() throws Exception {
    try (HandFedSandboxes sandboxes = new HandFedSandboxes()) {
      NanoClock clock = new NanoClock(0);
      KubernetesSandbox sandbox = runningSandbox(sandboxes, "kcr-py-2", clock);
      clock.at(DEADLINE.minus(NEEDED).minusSeconds(2)); // two seconds of its useful life left
      AtomicInteger reported = new AtomicInteger();

      sandbox.onExit(reported::incrementAndGet);
      assertEquals(0, reported.get(), "still good for a run");
      assertFalse(sandbox.retired());
      Eventually.await("reported gone", Duration.ofSeconds(10), () -> reported.get() == 1);
      clock.at(DEADLINE.minus(NEEDED).plusSeconds(1));
      assertFalse(sandbox.isAlive(), "and no longer alive for a run");
      assertTrue(sandbox.retired(), "retired, not dead: the pool says so without a warning");
    }
  }

  /** A pod taken for a run holds no timer for the rest of its deadline (an hour or more). */
  @Test
  void aPodClosedBeforeItsTimeLeavesNoTimerBehind() {
    try (HandFedSandboxes sandboxes = new HandFedSandboxes()) {
      KubernetesSandbox sandbox = runningSandbox(sandboxes, "kcr-py-3", new NanoClock(0));
      sandbox.onExit(() -> {});
      assertEquals(1, sandboxes.timers.getQueue().size());
      sandbox.close();
      assertEquals(0, sandboxes.timers.getQueue().size());
    }
  }

  /** A sandbox whose pod is Running and Ready, its age read on {@code clock}. */
  private static KubernetesSandbox runningSandbox(
      HandFedSandboxes sandboxes, String name, NanoClock clock) {
    sandboxes.watcher.update(PodWatcherTest.readyPod(name));
    return sandboxes.sandbox(name, PodLifetime.startingNow(clock, DEADLINE, NEEDED));
  }
}
