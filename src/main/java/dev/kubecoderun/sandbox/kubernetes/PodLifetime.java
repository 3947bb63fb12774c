package dev.kubecoderun.sandbox.kubernetes;

import java.time.Duration;
import java.util.function.LongSupplier;

/**
 * When Kubernetes kills a sandbox pod of old age ({@code activeDeadlineSeconds}, counted from the
 * pod's start, so from no earlier than when its creation was asked for), and whether it has enough
 * time left for one more run. A pod taken from the pool, or kept for its session's next run
 * (K8S_POD_REUSE=session), with less than that left would be killed mid-run: its run lost, a 503.
 *
 * <p>The pod's age is counted on this API's monotonic clock ({@code System.nanoTime}), never on its
 * wall clock or the pod's creation timestamp: a wall clock stepped back (NTP, a VM resumed) would
 * make a pod look younger than it is, and a pod about to be killed would be handed out. The node's
 * clock, which Kubernetes counts the deadline on, running ahead is what SandboxUse's margin is for.
 *
 * @param nanoClock this API's monotonic clock, in nanoseconds
 * @param diesAt on {@code nanoClock}, the latest the pod can live
 * @param needed what a run may use of it (SandboxUse.ofARun)
 */
record PodLifetime(LongSupplier nanoClock, long diesAt, Duration needed) {
  /** The lifetime of a pod whose creation is asked for now, to die {@code deadline} later. */
  static PodLifetime startingNow(LongSupplier nanoClock, Duration deadline, Duration needed) {
    return new PodLifetime(nanoClock, nanoClock.getAsLong() + deadline.toNanos(), needed);
  }

  /** Whether the pod lives long enough for one more run started now. */
  boolean enoughForARun() {
    // A difference: nanoTime values are compared only so, never directly (they may wrap).
    return diesAt - nanoClock.getAsLong() >= needed.toNanos();
  }

  /** How long until the pod no longer lives long enough for a run (zero once it does not). */
  Duration untilTooOldForARun() {
    return Duration.ofNanos(Math.max(0, diesAt - needed.toNanos() - nanoClock.getAsLong()));
  }
}
