package dev.kubecoderun.sandbox;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;

/** The pools' fill levels and the execution slots in use. */
public final class SandboxHealthCheck implements HealthCheck {
  private final SandboxPool pool;
  private final ExecutionSlots slots;
  private final SessionSandboxes sessionSandboxes; // null unless pods serve a session

  public SandboxHealthCheck(SandboxPool pool, ExecutionSlots slots) {
    this(pool, slots, null);
  }

  public SandboxHealthCheck(
      SandboxPool pool, ExecutionSlots slots, SessionSandboxes sessionSandboxes) {
    this.pool = pool;
    this.slots = slots;
    this.sessionSandboxes = sessionSandboxes;
  }

  @Override
  public String name() {
    return "sandbox";
  }

  @Override
  public HealthCheckResponse call() {
    var b = HealthCheckResponse.builder().status(true);
    pool.stats().forEach(b::detail);
    b.detail("executions_running", slots.inUse());
    b.detail("executions_max", slots.capacity());
    if (sessionSandboxes != null) {
      b.detail("session_sandboxes", sessionSandboxes.stats());
    }
    return b.build();
  }
}
