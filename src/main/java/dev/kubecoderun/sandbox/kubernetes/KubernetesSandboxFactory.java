package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.common.RandomHex;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.config.ConfigException;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.RunnerSettings;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.sandbox.SandboxFactory;
import dev.kubecoderun.sandbox.SessionSandboxes;
import io.helidon.webclient.api.WebClient;
import io.kubernetes.client.openapi.ApiException;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import java.util.logging.Logger;

/**
 * Kubernetes backend: a pool sandbox is a hardened pod, an on-demand sandbox is the pod of a
 * one-run Job. Creations are independent blocking calls (the pool runs them in parallel); pod
 * readiness comes from one shared watch. Global caps bound the pods and Jobs in flight.
 */
public final class KubernetesSandboxFactory implements SandboxFactory {
  private static final Logger LOG = Logger.getLogger(KubernetesSandboxFactory.class.getName());
  // How often pods a failed delete left behind (API server briefly unreachable) are deleted again.
  private static final Duration STRAY_SWEEP_INTERVAL = Duration.ofSeconds(30);
  // A check whose probe pod did not run (quota, slow image pull, pod refused) is run again after
  // this, doubling up to the cap: until one runs, no sandbox is handed to a run.
  private static final Duration PROBE_RETRY_FIRST = Duration.ofSeconds(5);
  private static final Duration PROBE_RETRY_MAX = Duration.ofMinutes(5);

  private final Config.Kubernetes k8s;
  private final RunnerSettings settings;
  private final WebClient http;
  private final PodSpecs specs;
  private final SandboxObjects objects;
  private final PodWatcher watcher;
  private final Semaphore pods;
  private final Semaphore jobs;
  private final HeldSlots slots; // a deleted sandbox's permit and identity, freed once it is gone
  // Sandbox objects created and not known gone, by name: true for a Job, false for a bare pod
  // (pool or probe). One whose delete failed stays until a retried delete takes (HeldSlots): the
  // stray sweep leaves it to that retry, and shutdown deletes it again, each as what it is.
  private final Map<String, Boolean> live = new ConcurrentHashMap<>();
  private final Thread straySweeper;
  private final SandboxIsolation isolation;
  // Sandboxes in their own namespace: this API pod's Lease there (else null: owner references).
  private final OwnerLeases leases;
  private final IsolationProbe probe;
  private volatile Thread probing; // the isolation check while it runs
  // K8S_POD_REUSE=session: the sandboxes kept for their sessions' next runs (else null).
  private volatile SessionSandboxes kept;

  /** What a pod's age is read on (its activeDeadlineSeconds, see {@link PodLifetime}). */
  private final LongSupplier nanoClock = System::nanoTime;

  /** When pool pods become too old for a run ({@link KubernetesSandbox#onExit}). */
  private final ScheduledThreadPoolExecutor timers = timers();

  /**
   * @param storeAddresses host:port of the API's stores (Redis, S3): the isolation check has a
   *     sandbox try those on a private network too ({@link IsolationProbe})
   */
  public KubernetesSandboxFactory(
      Config.Kubernetes k8s, RunnerSettings settings, WebClient http, List<String> storeAddresses) {
    this.k8s = k8s;
    this.settings = settings;
    this.http = http;
    this.specs = new PodSpecs(k8s, settings);
    this.pods = new Semaphore(k8s.maxPods());
    this.jobs = new Semaphore(k8s.maxJobs());
    this.isolation = new SandboxIsolation(k8s.isolation());
    try {
      var requests = KubeClients.requests(k8s.kubeconfig());
      objects = new SandboxObjects(requests, k8s.namespace());
      slots = new HeldSlots(objects);
      if (k8s.sandboxesElsewhere() && k8s.ownerPodName() != null) {
        leases = new OwnerLeases(requests, k8s.namespace(), k8s.instanceId(), k8s.ownerLease());
        leases.start();
      } else {
        leases = null;
      }
      OrphanCleaner.sweep(objects, specs.selector());
      watcher =
          new PodWatcher(KubeClients.watch(k8s.kubeconfig()), k8s.namespace(), specs.selector());
      watcher.start(settings.startTimeout());
      straySweeper = Thread.ofVirtual().name("kcr-stray-sweeper").start(this::sweepStrays);
      probe =
          new IsolationProbe(
              isolation,
              objects,
              watcher,
              specs,
              http,
              settings.startTimeout(),
              hostPort(requests.getBasePath()),
              storeAddresses,
              name -> live.put(name, false), // a bare pod: a stop deletes it as one
              live::remove);
    } catch (IOException e) {
      throw new ConfigException(
          (k8s.kubeconfig() == null
                  ? "no KUBECONFIG, and the in-cluster service account"
                  : "KUBECONFIG=" + k8s.kubeconfig())
              + " cannot be used: "
              + e);
    } catch (ApiException e) {
      throw new IllegalStateException(
          "cannot reach the Kubernetes API in namespace "
              + k8s.namespace()
              + ": "
              + SandboxObjects.reason(e),
          e);
    } catch (SandboxException e) {
      throw new IllegalStateException(e.getMessage(), e);
    }
    LOG.info(
        "Kubernetes backend: namespace "
            + k8s.namespace()
            + ", instance "
            + k8s.instanceId()
            + (k8s.ownerPodUid() == null ? " (no owner pod: POD_NAME/POD_UID unset)" : ""));
  }

  @Override
  public String name() {
    return "kubernetes";
  }

  /**
   * Starts the isolation check (its probe pod tries to reach this API, among others): call it once
   * the API listens, or a sandbox would find it "refused" whatever the NetworkPolicy. Until the
   * check decides, sandbox creations wait for it (at most the start timeout), and until it has
   * shown the network closed, no sandbox is handed to a run ({@link #refusal}).
   */
  public void startIsolationCheck() {
    probing = Thread.ofVirtual().name("kcr-isolation-probe").start(this::checkIsolation);
  }

  /**
   * The isolation check, run until the API stops: again after a back-off while its probe pod could
   * not run, then every K8S_ISOLATION_RECHECK_SECONDS so a policy removed later is noticed. A check
   * that finds the network open deletes every sandbox made so far: the pools' warm pods would
   * otherwise wait there for a run.
   */
  private void checkIsolation() {
    Duration retry = PROBE_RETRY_FIRST;
    while (!Thread.currentThread().isInterrupted()) {
      boolean ran = probe.run();
      if (isolation.network() == SandboxIsolation.Network.REACHED
          && !k8s.isolation().allowUnenforcedNetworkPolicy()) {
        deleteAllSandboxes();
      }
      Duration next;
      if (ran) {
        retry = PROBE_RETRY_FIRST;
        next = k8s.isolation().recheckInterval();
        if (next.isZero()) {
          return;
        }
      } else {
        next = retry;
        retry =
            retry.multipliedBy(2).compareTo(PROBE_RETRY_MAX) > 0
                ? PROBE_RETRY_MAX
                : retry.multipliedBy(2);
        LOG.warning("the sandbox isolation check could not run its probe pod; again in " + next);
      }
      try {
        Thread.sleep(next);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /**
   * Deletes every sandbox pod and Job of this API, those in the pools and those in use: the check
   * found they can reach what they must not. Their slots are freed when their owners close them.
   */
  private void deleteAllSandboxes() {
    List<Map.Entry<String, Boolean>> all = List.copyOf(live.entrySet());
    LOG.warning("the NetworkPolicy is not enforced: deleting " + all.size() + " sandbox object(s)");
    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (Map.Entry<String, Boolean> e : all) {
        pool.submit(() -> objects.delete(e.getKey(), e.getValue()));
      }
    }
  }

  @Override
  public String refusal() {
    return isolation.refusal();
  }

  @Override
  public String notReady() {
    return isolation.notReady();
  }

  /**
   * K8S_POD_REUSE=session: a Job that finds K8S_MAX_JOBS reached has {@code sessions} give back the
   * least recently used Job it keeps idle, rather than waiting for it.
   */
  public void takeSlotsFromIdle(SessionSandboxes sessions) {
    this.kept = sessions;
  }

  /** Whether a sandbox of this factory is a Job's (not yet deleted). */
  private boolean isJob(Sandbox sandbox) {
    return Boolean.TRUE.equals(live.get(sandbox.id()));
  }

  /** The objects the health check pings. */
  public KubernetesHealthCheck healthCheck() {
    return new KubernetesHealthCheck(objects, specs.selector(), watcher);
  }

  /** What the start-up check found about the sandboxes' isolation (sandbox_isolation). */
  public io.helidon.health.HealthCheck isolationCheck() {
    return new IsolationHealthCheck(isolation);
  }

  /** host:port of a URL, the default port of its scheme filled in; null when it has no host. */
  private static String hostPort(String url) {
    try {
      URI u = URI.create(url);
      if (u.getHost() == null) {
        return null;
      }
      int port = u.getPort() > 0 ? u.getPort() : "https".equals(u.getScheme()) ? 443 : 80;
      return (u.getHost().contains(":") && !u.getHost().startsWith("[")
              ? "[" + u.getHost() + "]"
              : u.getHost())
          + ":"
          + port;
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /**
   * {@code warm}: a pool pod (warm interpreter, the pool deadline). Otherwise one Job for one run.
   * Blocks until the pod is Ready (bounded by the start timeout).
   */
  @Override
  public Sandbox create(Language language, boolean warm) throws SandboxException {
    Semaphore cap = warm ? pods : jobs;
    long deadline = System.nanoTime() + settings.startTimeout().toNanos();
    try {
      // Only at start: the check decides between user namespaces and distinct uids.
      isolation.awaitDecision(settings.startTimeout());
      // A Job runs at once: only where the check has shown the network closed. A pool pod waits
      // for a run, so it may be made while the check is still undecided (the pool asks refusal()
      // before handing it out), not where the check found the network open.
      String refused = isolation.refusal();
      if (refused != null && (!warm || isolation.refusedForGood(left(deadline)))) {
        throw new SandboxException(refused);
      }
      boolean slot = cap.tryAcquire();
      SessionSandboxes idle = kept;
      if (!slot && !warm && idle != null) {
        // A Job kept idle for its session's next run holds a slot: a run must not wait for it (nor
        // get a 503 when all are so held). The least recently used one goes; its slot comes here.
        idle.giveBackOldest(this::isJob);
      }
      if (!slot && !cap.tryAcquire(settings.startTimeout().toNanos(), TimeUnit.NANOSECONDS)) {
        throw new SandboxException(
            "too many sandbox "
                + (warm
                    ? "pods (K8S_MAX_PODS=" + k8s.maxPods()
                    : "jobs (K8S_MAX_JOBS=" + k8s.maxJobs())
                + ") in flight");
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SandboxException("interrupted while waiting for a sandbox slot");
    }
    String name =
        (warm ? "kcr-" : "kcr-job-")
            + language.code().toLowerCase(Locale.ROOT)
            + "-"
            + RandomHex.of(5);
    String token = RandomHex.of(24);
    SandboxIsolation.PodIdentity identity = isolation.next();
    Runnable delete =
        () ->
            slots.delete(
                name,
                !warm,
                () -> {
                  live.remove(name);
                  isolation.release(identity);
                  cap.release();
                });
    boolean created = false;
    // Asked for before the pod exists: its deadline, counted from its start, ends no earlier.
    PodLifetime lifetime =
        PodLifetime.startingNow(
            nanoClock, warm ? k8s.podActiveDeadline() : k8s.jobDeadline(), k8s.runNeed());
    try {
      live.put(name, !warm);
      if (warm) {
        objects.createPod(specs.poolPod(name, language, token, identity));
        // A Job's pod may rightly not come (quota, the Job controller slow): only a bare pod
        // created and unseen says the watch has stalled.
        watcher.expect(name, settings.startTimeout());
      } else {
        objects.createJob(specs.job(name, language, token, identity));
      }
      created = true;
      PodWatcher.Ready ready = watcher.awaitReady(name, left(deadline));
      RunnerClient client =
          new RunnerClient(
              http, URI.create("http://" + ready.ip() + ":" + PodSpecs.RUNNER_PORT), token);
      if (warm && language.warm()) {
        awaitWarm(client, language.code(), name, deadline, () -> watcher.alive(name));
      }
      return new KubernetesSandbox(name, language, client, watcher, delete, lifetime, timers);
    } catch (ApiException e) {
      delete.run();
      throw new SandboxException(
          "cannot create sandbox "
              + (warm ? "pod " : "job ")
              + name
              + ": "
              + SandboxObjects.reason(e),
          e);
    } catch (SandboxException | RuntimeException e) {
      if (created) {
        delete.run();
      } else {
        live.remove(name);
        isolation.release(identity);
        cap.release();
      }
      throw e instanceof SandboxException se
          ? se
          : new SandboxException("cannot start sandbox " + name + ": " + e, e);
    }
  }

  /**
   * The pod is Ready once its runner answers; the warm interpreter may still be importing. This
   * asks the pod itself (not the API server), briefly, until the interpreter is up.
   */
  private static void awaitWarm(
      RunnerClient client,
      String language,
      String name,
      long deadline,
      java.util.function.BooleanSupplier podAlive)
      throws SandboxException {
    long sleepMs = 10;
    while (!client.healthy(language)) {
      // A pod deleted or failed meanwhile will never answer: give up now, not at the deadline.
      if (!podAlive.getAsBoolean()) {
        throw new SandboxException("sandbox pod " + name + " went away while it was starting");
      }
      if (System.nanoTime() > deadline) {
        throw new SandboxException("warm " + language + " interpreter of " + name + " not up");
      }
      try {
        Thread.sleep(sleepMs);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new SandboxException("interrupted while starting " + name);
      }
      sleepMs = Math.min(sleepMs * 2, 200);
    }
  }

  /** One thread, on which a cancelled timer (its pod taken for a run) goes at once. */
  static ScheduledThreadPoolExecutor timers() {
    var timers =
        new ScheduledThreadPoolExecutor(1, Thread.ofVirtual().name("kcr-pod-age").factory());
    timers.setRemoveOnCancelPolicy(true);
    return timers;
  }

  private static Duration left(long deadline) {
    return Duration.ofNanos(Math.max(0, deadline - System.nanoTime()));
  }

  /**
   * A sandbox is deleted once, when it is closed; when that delete fails (the API server was
   * unreachable), its pod would stay until the API restarts. This retries such deletes ({@link
   * HeldSlots}, which frees their slots once one takes), and deletes the pods the watch shows that
   * no live sandbox tracks.
   */
  private void sweepStrays() {
    while (!Thread.currentThread().isInterrupted()) {
      try {
        // Often enough that a gone API pod's sandboxes go soon after its Lease expired.
        Thread.sleep(
            leases == null
                ? STRAY_SWEEP_INTERVAL
                : java.util.Collections.min(List.of(STRAY_SWEEP_INTERVAL, k8s.ownerLease())));
      } catch (InterruptedException e) {
        return;
      }
      // Whether or not the watch shows their pod: a Job's may not have come yet.
      slots.deleteAgain();
      // Those whose delete failed are still in live: not deleted twice.
      Map<String, Boolean> strays = watcher.untracked(live.keySet());
      // Counted as they take: one that failed is not gone, and is tried again next time.
      int deleted = 0;
      for (var e : strays.entrySet()) {
        if (objects.delete(e.getKey(), e.getValue())) {
          deleted++;
        }
      }
      if (deleted > 0) {
        LOG.info("deleted " + deleted + " sandbox object(s) an earlier delete missed");
      }
      if (leases != null) {
        sweepDeadOwners();
      }
    }
  }

  /**
   * Deletes the sandboxes of API pods whose owner Lease has expired: gone without a clean stop, and
   * not restarted (a restart of the same pod sweeps its own at start). Not those with an owner
   * reference: an API in the sandboxes' namespace owns them itself and keeps no Lease.
   */
  private void sweepDeadOwners() {
    try {
      var owners = leases.liveOwners();
      String all = PodSpecs.MANAGED_BY + "=kubecoderun";
      int n = 0;
      for (var e : objects.podOwners(all, true).entrySet()) {
        if (!owners.contains(e.getValue()) && objects.deletePod(e.getKey())) {
          n++;
        }
      }
      for (var e : objects.jobOwners(all, true).entrySet()) {
        if (!owners.contains(e.getValue()) && objects.deleteJob(e.getKey())) {
          n++;
        }
      }
      if (n > 0) {
        LOG.info("deleted " + n + " sandbox object(s) of API pods that are gone");
      }
    } catch (ApiException e) {
      LOG.warning("cannot sweep the sandboxes of gone API pods: " + SandboxObjects.reason(e));
    } catch (RuntimeException e) {
      LOG.warning("cannot sweep the sandboxes of gone API pods: " + e);
    }
  }

  /**
   * Deletes every sandbox object not known gone (those whose delete failed included), in parallel,
   * then stops the watch.
   */
  @Override
  public void close() {
    straySweeper.interrupt();
    // A check still running is stopped first: its pod, maybe created after the snapshot below, is
    // deleted as the check ends.
    Thread check = probing;
    if (check != null) {
      check.interrupt();
      try {
        check.join(Duration.ofSeconds(10));
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    List<Map.Entry<String, Boolean>> left = List.copyOf(live.entrySet());
    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
      for (Map.Entry<String, Boolean> e : left) {
        pool.submit(() -> objects.delete(e.getKey(), e.getValue()));
      }
    }
    watcher.close();
    timers.shutdownNow();
    if (leases != null) {
      leases.close();
    }
  }
}
