package dev.kubecoderun.sandbox.kubernetes;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;

/**
 * When Kubernetes kills a sandbox pod of old age ({@code activeDeadlineSeconds}, counted from the
 * pod's start, so from no earlier than when its creation was asked for), and whether it has enough
 * time left for one more run. A pod taken from the pool, or kept for its session's next run
 * (K8S_POD_REUSE=session), with less than that left would be killed mid-run: its run lost, a 503.
 *
 * @param diesAt the latest the pod can live
 * @param needed what a run may use of it (SandboxUse.ofARun)
 */
record PodLifetime(Clock clock, Instant diesAt, Duration needed) {
  /** The lifetime of a pod whose creation is asked for now, to die {@code deadline} later. */
  static PodLifetime startingNow(Clock clock, Duration deadline, Duration needed) {
    return new PodLifetime(clock, clock.instant().plus(deadline), needed);
  }

  /** Whether the pod lives long enough for one more run started now. */
  boolean enoughForARun() {
    return !clock.instant().plus(needed).isAfter(diesAt);
  }
}
