package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** An owner Lease too short for a slow API server is named at start, not found out by a loss. */
class OwnerLeasesTest {
  @Test
  void aLeaseShorterThanARenewalMayTakeIsWarnedOf() {
    String warning = OwnerLeases.shortLeaseWarning(Duration.ofSeconds(5));
    assertTrue(
        warning.startsWith("K8S_OWNER_LEASE_SECONDS=5 is shorter than 30 s")
            && warning.contains("delete its sandboxes"),
        warning);
  }

  @Test
  void theDefaultLeaseAndLongerOnesAreNot() {
    assertNull(OwnerLeases.shortLeaseWarning(Duration.ofSeconds(30)));
    assertNull(OwnerLeases.shortLeaseWarning(Duration.ofSeconds(60)));
  }
}
