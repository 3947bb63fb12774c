package dev.kubecoderun.sandbox.kubernetes;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;

/**
 * sandbox_isolation in /health/detailed: what the start-up check ({@link IsolationProbe}) found.
 * Unhealthy when a sandbox reached an address it must not (NetworkPolicy not enforced), or the
 * check could not run; user namespaces missing is reported but not unhealthy (distinct uids stand
 * in).
 */
final class IsolationHealthCheck implements HealthCheck {
  private final SandboxIsolation isolation;

  IsolationHealthCheck(SandboxIsolation isolation) {
    this.isolation = isolation;
  }

  @Override
  public String name() {
    return "sandbox_isolation";
  }

  @Override
  public HealthCheckResponse call() {
    var b = HealthCheckResponse.builder().status(isolation.healthy());
    isolation.report().forEach(b::detail);
    return b.build();
  }
}
