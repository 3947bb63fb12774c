package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.config.Config;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Whether sandboxes may run, from what the start-up check found of their network: only once a check
 * has shown the NetworkPolicy enforced, unless the operator allowed otherwise. A check whose probe
 * pod never ran proves nothing.
 */
class SandboxIsolationTest {
  private static SandboxIsolation isolation(boolean allowUnenforced) {
    return new SandboxIsolation(
        new Config.Isolation(
            Config.UserNamespaces.AUTO,
            1_000_000_000L,
            1_999_999_999L,
            "10.0.0.5:8000",
            List.of("169.254.169.254:80"),
            allowUnenforced,
            Duration.ofMinutes(10),
            Config.ApiAntiAffinity.PREFERRED,
            Map.of(),
            null));
  }

  private static final Map<String, Object> NOT_RUN =
      Map.of("network_policy", "not checked: the probe pod did not run (exceeded quota)");

  @Test
  void sandboxesAreRefusedWhileNoCheckHasRun() {
    SandboxIsolation iso = isolation(false);
    String refused = iso.refusal();
    assertNotNull(refused, "undecided: refused");
    assertTrue(refused.startsWith("sandboxes wait for the start-up check"), refused);
    assertTrue(refused.contains("K8S_ALLOW_UNENFORCED_NETWORK_POLICY=true"), refused);
  }

  @Test
  void aCheckWhoseProbePodDidNotRunLeavesSandboxesRefused() {
    SandboxIsolation iso = isolation(false);
    iso.decide(false, NOT_RUN, false, false, null);
    String refused = iso.refusal();
    assertNotNull(refused, "nothing shown: still refused");
    assertTrue(refused.contains("its probe pod could not run and it is retried"), refused);
    assertTrue(
        iso.report().get("network_policy").toString().contains("did not run (exceeded quota)"),
        "why, for the operator: " + iso.report());
    assertFalse(iso.healthy());
  }

  /**
   * Not ready until a check has decided: a replica whose check has not run gets no traffic. Once
   * one has (either way) it is ready; one that found the network open says why it refuses runs.
   */
  @Test
  void theApiIsNotReadyUntilACheckHasDecided() {
    SandboxIsolation iso = isolation(false);
    assertEquals(
        "waiting for the sandbox isolation check (sandbox_isolation in /health/detailed)",
        iso.notReady());
    iso.decide(false, NOT_RUN, false, false, null);
    assertNotNull(iso.notReady(), "a probe that did not run decides nothing");
    iso.decide(false, Map.of(), false, true, "169.254.169.254:80");
    assertNull(iso.notReady(), "decided: open");
    SandboxIsolation closed = isolation(false);
    closed.decide(false, Map.of("network_policy", "enforced"), true, true, null);
    assertNull(closed.notReady(), "decided: closed");
    assertNull(isolation(true).notReady(), "the operator runs sandboxes unchecked");
  }

  @Test
  void sandboxesRunOnceACheckShowedTheNetworkClosed() {
    SandboxIsolation iso = isolation(false);
    iso.decide(false, NOT_RUN, false, false, null);
    iso.decide(false, Map.of("network_policy", "enforced"), true, true, null);
    assertNull(iso.refusal());
    assertEquals(SandboxIsolation.Network.CLOSED, iso.network());
  }

  @Test
  void aNetworkFoundOpenIsRefusedAndARecheckThatCouldNotRunDoesNotLiftIt() {
    SandboxIsolation iso = isolation(false);
    iso.decide(false, Map.of(), false, true, "169.254.169.254:80");
    assertTrue(iso.refusal().contains("not enforced (a sandbox reached 169.254.169.254:80)"));
    iso.decide(false, NOT_RUN, false, false, null);
    assertTrue(iso.refusal().contains("not enforced (a sandbox reached 169.254.169.254:80)"));
    assertTrue(
        iso.report()
            .get("network_policy")
            .toString()
            .contains(
                "the last check that ran found it"
                    + " NOT enforced (169.254.169.254:80), which still holds"),
        iso.report().toString());
  }

  @Test
  void aPolicyRemovedLaterIsNoticedByTheNextCheck() {
    SandboxIsolation iso = isolation(false);
    iso.decide(false, Map.of(), true, true, null);
    assertNull(iso.refusal());
    iso.decide(false, Map.of(), false, true, "10.0.0.5:8000");
    assertNotNull(iso.refusal());
  }

  @Test
  void theOperatorMayAllowUncheckedSandboxes() throws Exception {
    SandboxIsolation iso = isolation(true);
    assertNull(iso.refusal(), "undecided, allowed");
    iso.decide(false, Map.of(), false, true, "1.1.1.1:443");
    assertNull(iso.refusal(), "found open, allowed");
    assertFalse(iso.refusedForGood(Duration.ZERO));
  }

  /** A pool refilling where the network was found open waits for a later check, then goes on. */
  @Test
  void poolPodsWaitWhileTheNetworkIsFoundOpenUntilACheckShowsItClosed() throws Exception {
    SandboxIsolation iso = isolation(false);
    assertFalse(iso.refusedForGood(Duration.ZERO), "undecided: pool pods may be made");
    iso.decide(false, Map.of(), false, true, "1.1.1.1:443");
    assertTrue(iso.refusedForGood(Duration.ofMillis(50)), "found open: none made");
    Thread later =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    Thread.sleep(100);
                  } catch (InterruptedException e) {
                    return;
                  }
                  iso.decide(false, Map.of(), true, true, null);
                });
    assertFalse(iso.refusedForGood(Duration.ofSeconds(30)), "a later check found it closed");
    later.join();
  }
}
