package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.testing.MovingClock;
import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import io.kubernetes.client.openapi.models.V1Pod;
import io.kubernetes.client.openapi.models.V1PodStatus;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A sandbox pod with too little of its activeDeadlineSeconds left for a run counts as dead: the
 * pool does not hand it out, a session does not keep it, and either replaces it, rather than a run
 * being killed halfway by Kubernetes (a 503, its outputs and state lost).
 */
class PodLifetimeTest {
  private static final Instant CREATED = Instant.parse("2026-01-01T00:00:00Z");
  private static final Duration DEADLINE = Duration.ofSeconds(3600); // K8S_POD_ACTIVE_DEADLINE
  private static final Duration MAX_EXECUTION_TIME = Duration.ofSeconds(30);

  /** What a run needs: MAX_EXECUTION_TIME, the 15 s waited past it, a minute for its files. */
  private static final Duration NEEDED = Duration.ofSeconds(30 + 15 + 60);

  @Test
  void aPodIsGoodForARunUntilLessThanARunIsLeftOfItsDeadline() {
    MovingClock clock = new MovingClock(CREATED);
    PodLifetime lifetime = PodLifetime.startingNow(clock, DEADLINE, MAX_EXECUTION_TIME);

    assertTrue(lifetime.enoughForARun(), "new");
    clock.set(CREATED.plus(DEADLINE).minus(NEEDED));
    assertTrue(lifetime.enoughForARun(), "exactly a run left");
    clock.set(CREATED.plus(DEADLINE).minus(NEEDED).plusSeconds(1));
    assertFalse(lifetime.enoughForARun(), "a second short of a run");
    clock.set(CREATED.plus(DEADLINE).minusSeconds(10)); // the reviewer's warm pod at ~3590 s
    assertFalse(lifetime.enoughForARun(), "10 s left");
  }

  /** The sandbox's own answer, which the pool's take and the session's take and keep ask. */
  @Test
  void aRunningPodNearItsDeadlineIsNotAliveForTheNextRun() {
    ApiClient never = new ApiClient(); // never called: the informer is not started
    never.setReadTimeout(0);
    PodWatcher watcher = new PodWatcher(never, "ns", "sel");
    try {
      watcher.update(
          new V1Pod()
              .metadata(
                  new V1ObjectMeta()
                      .name("kcr-py-1")
                      .uid("uid-1")
                      .labels(Map.of(PodSpecs.SANDBOX, "kcr-py-1")))
              .status(new V1PodStatus().phase("Running")));
      MovingClock clock = new MovingClock(CREATED);
      KubernetesSandbox sandbox =
          new KubernetesSandbox(
              "kcr-py-1",
              Language.PY,
              new RunnerClient(null, URI.create("http://127.0.0.1:1"), "t"),
              watcher,
              () -> {},
              PodLifetime.startingNow(clock, DEADLINE, MAX_EXECUTION_TIME));

      assertTrue(sandbox.isAlive());
      clock.set(CREATED.plus(DEADLINE).minusSeconds(10));
      assertFalse(sandbox.isAlive(), "running, but Kubernetes kills it within the run");
    } finally {
      watcher.close();
    }
  }
}
