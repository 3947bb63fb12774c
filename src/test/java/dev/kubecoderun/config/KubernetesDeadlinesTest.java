package dev.kubecoderun.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.Arrays;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Kubernetes kills a sandbox pod at its activeDeadlineSeconds, whatever it runs: no deadline may be
 * shorter than what a run the API's own settings allow uses of its pod. Unset, the deadlines follow
 * those settings; set too short, the API refuses to start, naming what to raise.
 */
class KubernetesDeadlinesTest {
  /**
   * What a run may use of a pod with the defaults: SANDBOX_TRANSFER_TIMEOUT_SECONDS (600) for its
   * inputs and again for its outputs, a programmatic run's budget ((120 + 30) x 21 + 30 + 5, longer
   * than an ordinary run's 30 + 15), and a minute between the calls.
   */
  private static final long NEED = 600 + 3185 + 600 + 60;

  /** The same with MAX_EXECUTION_TIME=600: (120 + 600) x 21 + 600 + 5 for a programmatic run. */
  private static final long NEED_600 = 600 + 15725 + 600 + 60;

  /** The Kubernetes backend's configuration with {@code kv} (names and values) set too. */
  private static Config kubernetes(String... kv) {
    return TestEnv.config(
        Stream.concat(
                Stream.of("SANDBOX_BACKEND", "kubernetes", "POD_NAMESPACE", "sandboxes"),
                Arrays.stream(kv))
            .toArray(String[]::new));
  }

  @Test
  void aRunMayUseItsTransfersAndTheLongerOfAnOrdinaryAndAProgrammaticRun() {
    Config c = kubernetes();
    assertEquals(Duration.ofSeconds(NEED), SandboxUse.ofARun(c.limits(), c.sessions()));
    assertEquals(Duration.ofSeconds(NEED), c.kubernetes().runNeed());
    // Without tool calls to wait for, an ordinary run is still bounded by its own wait.
    assertEquals(Duration.ofSeconds(45), SandboxUse.execute(c.limits().maxExecutionTime()));
    assertEquals(
        Duration.ofSeconds(3185),
        SandboxUse.programmatic(Duration.ofSeconds(120), Duration.ofSeconds(30)));
  }

  @Test
  void unsetTheDeadlinesFollowWhatARunMayUseOfAPod() {
    Config.Kubernetes k = kubernetes().kubernetes();
    assertEquals(Duration.ofSeconds(2 * NEED), k.podActiveDeadline(), "a pool pod: two runs");
    assertEquals(
        Duration.ofSeconds(30 + NEED), k.jobDeadline(), "a Job: SANDBOX_START_TIMEOUT, one run");

    Config.Kubernetes longRuns = kubernetes("MAX_EXECUTION_TIME", "600").kubernetes();
    assertEquals(Duration.ofSeconds(2 * NEED_600), longRuns.podActiveDeadline());
    assertEquals(Duration.ofSeconds(30 + NEED_600), longRuns.jobDeadline());
  }

  /** A session's Job pod serves further runs of the session, as long as a pool pod would. */
  @Test
  void unsetAJobWhosePodSessionsKeepLivesAsLongAsAPoolPodMore() {
    Config.Kubernetes k =
        kubernetes("K8S_POD_REUSE", "session", "SANDBOX_START_TIMEOUT_SECONDS", "60").kubernetes();
    assertEquals(Duration.ofSeconds(60 + 2 * NEED), k.jobDeadline());
  }

  /** A pool pod must live well past what a run may use of it, else it is replaced before use. */
  @Test
  void aPodDeadlineShorterThanTwoRunsIsRefusedAtStart() {
    // An hour, the old default: less than the two hours and a half two programmatic runs may take.
    ConfigException e =
        assertThrows(
            ConfigException.class, () -> kubernetes("K8S_POD_ACTIVE_DEADLINE_SECONDS", "3600"));
    assertTrue(e.getMessage().contains("K8S_POD_ACTIVE_DEADLINE_SECONDS=3600"), e.getMessage());
    assertTrue(e.getMessage().contains("SANDBOX_TRANSFER_TIMEOUT_SECONDS"), e.getMessage());
    assertTrue(e.getMessage().contains("PTC_CONTINUATION_TIMEOUT_SECONDS"), e.getMessage());
    assertTrue(e.getMessage().contains("at least " + 2 * NEED), e.getMessage());

    assertEquals(
        Duration.ofSeconds(2 * NEED),
        kubernetes("K8S_POD_ACTIVE_DEADLINE_SECONDS", Long.toString(2 * NEED))
            .kubernetes()
            .podActiveDeadline());
  }

  /** A cold language's run, allowed ten minutes, must not be killed at the Job's five. */
  @Test
  void aJobDeadlineShorterThanAStartAndARunIsRefusedAtStart() {
    ConfigException e =
        assertThrows(
            ConfigException.class,
            () -> kubernetes("MAX_EXECUTION_TIME", "600", "K8S_JOB_DEADLINE_SECONDS", "300"));
    assertTrue(e.getMessage().contains("K8S_JOB_DEADLINE_SECONDS=300"), e.getMessage());
    assertTrue(e.getMessage().contains("MAX_EXECUTION_TIME"), e.getMessage());
    assertTrue(e.getMessage().contains("SANDBOX_START_TIMEOUT_SECONDS=30"), e.getMessage());
    assertTrue(e.getMessage().contains("at least " + (30 + NEED_600)), e.getMessage());

    assertThrows(
        ConfigException.class,
        () -> kubernetes("K8S_JOB_DEADLINE_SECONDS", Long.toString(30 + NEED - 1)),
        "a second short");
    assertEquals(
        Duration.ofSeconds(30 + NEED),
        kubernetes("K8S_JOB_DEADLINE_SECONDS", Long.toString(30 + NEED))
            .kubernetes()
            .jobDeadline());
  }
}
