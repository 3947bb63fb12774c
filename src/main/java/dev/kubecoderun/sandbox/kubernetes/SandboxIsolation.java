package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.config.Config;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Which user ids sandbox pods run as, so no two pods on a node share one: RLIMIT_NPROC is counted
 * per host uid across the whole node, so with one shared uid a fork bomb in one pod would stop
 * every other pod from starting a process. Either each pod gets its own user namespace ({@code
 * hostUsers: false}: its uid 65532 maps to host ids no other pod has), or, where the cluster cannot
 * do that, its own uid from {@code K8S_SANDBOX_UIDS}. Which one is decided by the start-up check
 * ({@link IsolationProbe}), whose findings this also keeps for /health/detailed.
 */
final class SandboxIsolation {
  private static final SecureRandom RANDOM = new SecureRandom();

  /** The identity of one pod: {@code hostUsers} (null: the cluster's default) and its uid/gid. */
  record PodIdentity(Boolean hostUsers, long uid) {}

  private final Config.Isolation config;
  private final CountDownLatch decided = new CountDownLatch(1);
  private final Set<Long> uidsInUse = ConcurrentHashMap.newKeySet();
  private volatile boolean userNamespaces;
  private volatile Map<String, Object> report;
  private volatile boolean healthy = true;
  // What the last check whose probe pod ran found of the network. Until one has shown it closed,
  // no sandbox is handed to a run (unless K8S_ALLOW_UNENFORCED_NETWORK_POLICY=true): a check that
  // could not run proves nothing, and failing open there is what the check exists to prevent.
  private Network network = Network.UNKNOWN; // guarded by this
  private String networkReached; // what a sandbox reached; guarded by this

  /** What is known of the sandboxes' network. */
  enum Network {
    /** No check has run a probe pod yet. */
    UNKNOWN,
    /** A sandbox reached none of the addresses it must not. */
    CLOSED,
    /** A sandbox reached one of them: the NetworkPolicy is not enforced. */
    REACHED
  }

  SandboxIsolation(Config.Isolation config) {
    this.config = config;
    userNamespaces = config.userNamespaces() == Config.UserNamespaces.ON;
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("check", "running");
    report = r;
    if (config.userNamespaces() == Config.UserNamespaces.OFF) {
      r.put("user_namespaces", "off (K8S_USER_NAMESPACES=off)");
    }
  }

  Config.Isolation config() {
    return config;
  }

  /**
   * Waits (at most {@code timeout}) for the start-up check to decide between user namespaces and
   * distinct uids; past it, pods get distinct uids, which are safe either way.
   */
  void awaitDecision(Duration timeout) throws InterruptedException {
    decided.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
  }

  /** The identity for a new pod; {@link #release} it when the pod is deleted. */
  PodIdentity next(boolean forceUserNamespace) {
    if (userNamespaces || forceUserNamespace) {
      return new PodIdentity(false, PodSpecs.SANDBOX_UID);
    }
    long span = config.uidMax() - config.uidMin() + 1;
    while (true) {
      long uid = config.uidMin() + (RANDOM.nextLong() & Long.MAX_VALUE) % span;
      if (uidsInUse.add(uid)) {
        return new PodIdentity(null, uid);
      }
    }
  }

  PodIdentity next() {
    return next(false);
  }

  void release(PodIdentity identity) {
    if (identity != null && identity.hostUsers() == null) {
      uidsInUse.remove(identity.uid());
    }
  }

  /**
   * Records the check's findings and the decision it leads to. {@code networkChecked}: whether the
   * probe pod ran and tried the addresses; {@code reached}: then what it reached that it must not
   * (null: nothing). A check that could not run keeps what the last one that ran found.
   */
  void decide(
      boolean useUserNamespaces,
      Map<String, Object> findings,
      boolean allGood,
      boolean networkChecked,
      String reached) {
    Map<String, Object> r = new LinkedHashMap<>(findings);
    synchronized (this) {
      if (networkChecked) {
        network = reached == null ? Network.CLOSED : Network.REACHED;
        networkReached = reached;
      } else {
        Object why = findings.get("network_policy");
        if (network != Network.UNKNOWN) {
          r.put(
              "network_policy",
              (why == null ? "not checked" : why)
                  + "; the last check that ran found it "
                  + (network == Network.CLOSED
                      ? "enforced"
                      : "NOT enforced (" + networkReached + ")")
                  + ", which still holds");
        }
      }
      notifyAll();
    }
    userNamespaces = useUserNamespaces || config.userNamespaces() == Config.UserNamespaces.ON;
    r.put(
        "sandbox_uids",
        userNamespaces
            ? "65532, in a user namespace of each pod's own (hostUsers: false)"
            : "a distinct uid per pod, from " + config.uidMin() + "-" + config.uidMax());
    r.put("checked_at", Instant.now().toString());
    report = r;
    healthy = allGood;
    decided.countDown();
  }

  Map<String, Object> report() {
    return report;
  }

  synchronized Network network() {
    return network;
  }

  /**
   * Why no sandbox may be given to a run now, or null. Sandboxes that can reach this API, the
   * Kubernetes API or the cloud's metadata run weaker than the product says, and until a check has
   * shown they cannot, nobody knows: refused either way, unless the operator said otherwise
   * (K8S_ALLOW_UNENFORCED_NETWORK_POLICY=true).
   */
  synchronized String refusal() {
    if (config.allowUnenforcedNetworkPolicy()) {
      return null;
    }
    return switch (network) {
      case CLOSED -> null;
      case UNKNOWN ->
          "sandboxes wait for the start-up check to show that a sandbox cannot reach what the"
              + " NetworkPolicy keeps it from (it has not run yet, or its probe pod could not"
              + " run and it is retried: sandbox_isolation in /health/detailed says why); set K8S_ALLOW_UNENFORCED_NETWORK_POLICY=true to run sandboxes"
              + " unchecked";
      case REACHED ->
          "sandboxes are refused: the start-up check found the NetworkPolicy not enforced (a"
              + " sandbox reached "
              + networkReached
              + "); use a CNI that enforces NetworkPolicy with the chart's policies on and no"
              + " networkPolicy.sandboxEgress rule that opens it, or set"
              + " K8S_ALLOW_UNENFORCED_NETWORK_POLICY=true to run sandboxes anyway";
    };
  }

  /**
   * Why the API cannot take runs yet, or null: no check has shown the network closed so far (and
   * the operator did not allow running unchecked). A check that found it open is not this: the API
   * is ready and says why it refuses, where a replica that is not ready gets no traffic at all.
   */
  synchronized String notReady() {
    if (config.allowUnenforcedNetworkPolicy() || network != Network.UNKNOWN) {
      return null;
    }
    return "waiting for the sandbox isolation check (sandbox_isolation in /health/detailed)";
  }

  /**
   * Whether no sandbox may even be made: the last check found the NetworkPolicy not enforced (and
   * the operator did not allow that). Waits at most {@code timeout} for a check to say otherwise,
   * so a pool refilling meanwhile does not spin.
   */
  synchronized boolean refusedForGood(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (network == Network.REACHED && !config.allowUnenforcedNetworkPolicy()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) {
        return true;
      }
      TimeUnit.NANOSECONDS.timedWait(this, left);
    }
    return false;
  }

  /** False when the check found a sandbox can reach what it must not, or could not run. */
  boolean healthy() {
    return healthy;
  }
}
