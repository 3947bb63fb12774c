package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.sandbox.SandboxException;
import io.kubernetes.client.informer.ResourceEventHandler;
import io.kubernetes.client.informer.SharedIndexInformer;
import io.kubernetes.client.informer.SharedInformerFactory;
import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.openapi.apis.CoreV1Api;
import io.kubernetes.client.openapi.models.V1ContainerStatus;
import io.kubernetes.client.openapi.models.V1Pod;
import io.kubernetes.client.openapi.models.V1PodCondition;
import io.kubernetes.client.openapi.models.V1PodList;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.logging.Logger;

/**
 * ONE informer (list + watch) on the backend's label selector: it keeps the latest state of every
 * sandbox pod, wakes the threads waiting for a pod to become ready and tells sandboxes when their
 * pod dies or is no longer Ready. Nothing polls the API server per pod. The informer's handlers
 * only record the pod and hand the "pod gone" callbacks to their own virtual threads: a callback
 * may make blocking API calls (deleting the pod, up to the client's timeout), which must not hold
 * up every other pod's events.
 */
final class PodWatcher implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(PodWatcher.class.getName());

  /** What a waiter learns: a ready pod's address, or why it will never be ready. */
  record Ready(String podName, String ip, String node) {}

  /** How long a pod created and never shown keeps the watch marked stalled. */
  static final Duration STALL_MEMORY = Duration.ofMinutes(10);

  private final SharedInformerFactory factory;
  private final SharedIndexInformer<V1Pod> informer;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition changed = lock.newCondition();
  // Latest pod per sandbox name (the kubecoderun.io/sandbox label: a pod, or a Job's pod).
  private final Map<String, V1Pod> pods = new HashMap<>();
  // Sandboxes whose pod was deleted, the most recent ones (names are never reused): a waiter that
  // wakes after its pod came and went learns that it went, instead of waiting for it to be created.
  private final Map<String, Boolean> gone =
      new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
          return size() > 4096;
        }
      };
  private final Map<String, List<Runnable>> onGone = new HashMap<>();
  // Pods this API created and the watch has not shown yet, with when it should have by (nanoTime).
  // One still unseen then says the watch has stalled, which hasSynced() does not: it stays true.
  private final Map<String, Long> expected = new HashMap<>();
  private final ExecutorService callbacks = Executors.newVirtualThreadPerTaskExecutor();

  PodWatcher(ApiClient watchClient, String namespace, String selector) {
    CoreV1Api core = new CoreV1Api(watchClient);
    factory = new SharedInformerFactory(watchClient);
    informer =
        factory.sharedIndexInformerFor(
            params ->
                core.listNamespacedPod(namespace)
                    .labelSelector(selector)
                    .resourceVersion(params.resourceVersion)
                    .timeoutSeconds(params.timeoutSeconds)
                    .watch(params.watch)
                    .buildCall(null),
            V1Pod.class,
            V1PodList.class);
    informer.addEventHandler(
        new ResourceEventHandler<>() {
          @Override
          public void onAdd(V1Pod pod) {
            update(pod);
          }

          @Override
          public void onUpdate(V1Pod old, V1Pod pod) {
            update(pod);
          }

          @Override
          public void onDelete(V1Pod pod, boolean finalStateUnknown) {
            removed(pod);
          }
        });
  }

  /** Starts the informer and waits for its first list (so start-up sees existing pods). */
  void start(Duration timeout) throws SandboxException {
    factory.startAllRegisteredInformers();
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!informer.hasSynced()) {
      if (System.nanoTime() > deadline) {
        throw new SandboxException(
            "the pod watch did not sync within " + timeout.toSeconds() + " s");
      }
      sleep(20);
    }
  }

  boolean synced() {
    return informer.hasSynced();
  }

  /**
   * Blocks until the sandbox's pod is Ready with an IP; fails fast when it fails or goes away, or
   * when a container of it waits for what no wait mends ({@link #cannotStart}): such a start would
   * otherwise hold its slot (and its caller) for the whole timeout.
   */
  Ready awaitReady(String sandbox, Duration timeout) throws SandboxException {
    long deadline = System.nanoTime() + timeout.toNanos();
    lock.lock();
    try {
      while (true) {
        V1Pod pod = pods.get(sandbox);
        if (pod == null && gone.containsKey(sandbox)) {
          throw new SandboxException("sandbox pod " + sandbox + " was deleted before it was ready");
        }
        if (pod != null) {
          if (dead(pod)) {
            throw new SandboxException(
                "sandbox pod " + describe(pod) + " died before it was ready");
          }
          String stuck = cannotStart(pod);
          if (stuck != null) {
            throw new SandboxException("sandbox pod " + describe(pod) + " cannot start: " + stuck);
          }
          if (ready(pod)) {
            return new Ready(
                pod.getMetadata().getName(),
                pod.getStatus().getPodIP(),
                pod.getSpec() == null ? null : pod.getSpec().getNodeName());
          }
        }
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new SandboxException(
              "sandbox pod "
                  + (pod == null ? sandbox + " (not created yet)" : describe(pod))
                  + " not ready within "
                  + timeout.toSeconds()
                  + " s");
        }
        changed.awaitNanos(left);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SandboxException("interrupted while waiting for sandbox pod " + sandbox);
    } finally {
      lock.unlock();
    }
  }

  /**
   * True while the sandbox's pod exists and neither failed nor is being deleted, Ready or not: what
   * a pod still starting is asked ({@link #serving} would be false before it is first Ready).
   */
  boolean alive(String sandbox) {
    lock.lock();
    try {
      V1Pod pod = pods.get(sandbox);
      return pod != null && !dead(pod);
    } finally {
      lock.unlock();
    }
  }

  /**
   * True while the sandbox's pod is alive and Ready: what a pod that has been Ready is asked before
   * it is handed out or kept. One no longer Ready (its node NotReady, its runner not answering the
   * readiness probe) keeps its phase Running, but a run on it would fail against a runner out of
   * reach.
   */
  boolean serving(String sandbox) {
    lock.lock();
    try {
      V1Pod pod = pods.get(sandbox);
      return pod != null && !dead(pod) && ready(pod);
    } finally {
      lock.unlock();
    }
  }

  /**
   * A pod this API has just created: the watch should show it within {@code within} (the start
   * timeout), or it has stalled ({@link #stalled}).
   */
  void expect(String sandbox, Duration within) {
    lock.lock();
    try {
      if (!pods.containsKey(sandbox) && !gone.containsKey(sandbox)) {
        expected.put(sandbox, System.nanoTime() + within.toNanos());
      }
    } finally {
      lock.unlock();
    }
  }

  /**
   * A pod created that the watch has not shown in its time (null: none): the watch has stalled.
   * Such a pod is forgotten after {@link #STALL_MEMORY} past its time, so one created and deleted
   * between two of the informer's lists (never shown, rightly) cannot mark the watch stalled for
   * good; a watch that stays stalled keeps missing the pods created meanwhile.
   */
  String stalled() {
    long now = System.nanoTime();
    lock.lock();
    try {
      expected.values().removeIf(by -> now - by > STALL_MEMORY.toNanos());
      return expected.entrySet().stream()
          .filter(e -> now - e.getValue() > 0)
          .map(Map.Entry::getKey)
          .findFirst()
          .orElse(null);
    } finally {
      lock.unlock();
    }
  }

  /**
   * Runs {@code callback} once the sandbox's pod dies, goes, or is no longer Ready ({@link
   * #serving} turns false; at once if it already is). For a pod that has been Ready: a sandbox asks
   * it, made only once its pod was.
   */
  void onGone(String sandbox, Runnable callback) {
    lock.lock();
    boolean now;
    try {
      V1Pod pod = pods.get(sandbox);
      now = pod == null || dead(pod) || !ready(pod);
      if (!now) {
        onGone.computeIfAbsent(sandbox, k -> new ArrayList<>()).add(callback);
      }
    } finally {
      lock.unlock();
    }
    if (now) {
      callback.run();
    }
  }

  /**
   * Sandboxes (name to "is a Job") whose pods exist, are not being deleted, and are not in {@code
   * tracked}: what a failed delete left behind. Read from the watch's cache, no API call.
   */
  Map<String, Boolean> untracked(java.util.Set<String> tracked) {
    lock.lock();
    try {
      Map<String, Boolean> out = new HashMap<>();
      pods.forEach(
          (sandbox, pod) -> {
            if (!tracked.contains(sandbox) && pod.getMetadata().getDeletionTimestamp() == null) {
              out.put(sandbox, "job".equals(pod.getMetadata().getLabels().get(PodSpecs.ROLE)));
            }
          });
      return out;
    } finally {
      lock.unlock();
    }
  }

  void update(V1Pod pod) {
    String sandbox = sandboxOf(pod);
    if (sandbox == null) {
      return;
    }
    List<Runnable> fire = null;
    V1Pod old;
    lock.lock();
    try {
      old = pods.put(sandbox, pod);
      gone.remove(sandbox);
      expected.remove(sandbox);
      // Not Ready: only a pod that has been has callbacks (onGone), so one starting loses none.
      if (dead(pod) || !ready(pod)) {
        fire = onGone.remove(sandbox);
      }
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    if (old != null && ready(old) && !dead(pod) && !ready(pod)) {
      LOG.warning(
          "sandbox pod "
              + pod.getMetadata().getName()
              + " is no longer Ready: "
              + notReadyWhy(pod)
              + "; it is handed to no run");
    }
    run(fire);
  }

  void removed(V1Pod pod) {
    String sandbox = sandboxOf(pod);
    if (sandbox == null) {
      return;
    }
    List<Runnable> fire;
    lock.lock();
    try {
      V1Pod current = pods.get(sandbox);
      // A Job's replacement pod may already be newer: only forget the pod that went.
      if (current != null && current.getMetadata().getUid().equals(pod.getMetadata().getUid())) {
        pods.remove(sandbox);
        gone.put(sandbox, true);
      }
      expected.remove(sandbox);
      fire = onGone.remove(sandbox);
      changed.signalAll();
    } finally {
      lock.unlock();
    }
    run(fire);
  }

  /** Enqueues the callbacks; the informer's thread goes back to its events at once. */
  private void run(List<Runnable> fire) {
    if (fire == null) {
      return;
    }
    for (Runnable r : fire) {
      callbacks.submit(
          () -> {
            try {
              r.run();
            } catch (RuntimeException e) {
              LOG.warning("pod exit callback failed: " + e);
            }
          });
    }
  }

  private static String sandboxOf(V1Pod pod) {
    Map<String, String> labels = pod.getMetadata().getLabels();
    return labels == null ? null : labels.get(PodSpecs.SANDBOX);
  }

  static boolean ready(V1Pod pod) {
    if (pod.getStatus() == null || pod.getStatus().getPodIP() == null) {
      return false;
    }
    if (!"Running".equals(pod.getStatus().getPhase())) {
      return false;
    }
    V1PodCondition c = readyCondition(pod);
    return c != null && "True".equals(c.getStatus());
  }

  /** The pod's Ready condition, or null when its status has none (yet). */
  private static V1PodCondition readyCondition(V1Pod pod) {
    List<V1PodCondition> conditions =
        pod.getStatus() == null ? null : pod.getStatus().getConditions();
    return conditions == null
        ? null
        : conditions.stream().filter(c -> "Ready".equals(c.getType())).findFirst().orElse(null);
  }

  // Waiting reasons of a container (the kubelet's) that no wait within a start timeout mends. Not
  // ErrImagePull: one pull failed, maybe for a moment (a registry's 5xx or rate limit, the
  // network), and the kubelet tries again. Once it reports ImagePullBackOff it waits 10 s, then
  // doubling up to 5 min, before the next try: mostly longer than a start may wait, while a new
  // pod pulls again at once (the back-off is the pod's) after the pool's own back-off.
  private static final java.util.Set<String> CANNOT_START =
      java.util.Set.of(
          "ImagePullBackOff", // a pull failed; the next try is backed off
          "ErrImageNeverPull", // imagePullPolicy Never, and the image is not on the node
          "InvalidImageName", // the image reference does not parse
          "CreateContainerConfigError"); // e.g. runAsNonRoot and an image that runs as root

  /**
   * Why a container of the pod cannot start (its name, image, waiting reason and message), or null
   * while none is so stuck.
   */
  static String cannotStart(V1Pod pod) {
    var status = pod.getStatus();
    if (status == null) {
      return null;
    }
    List<V1ContainerStatus> all = new ArrayList<>();
    if (status.getInitContainerStatuses() != null) {
      all.addAll(status.getInitContainerStatuses());
    }
    if (status.getContainerStatuses() != null) {
      all.addAll(status.getContainerStatuses());
    }
    for (V1ContainerStatus c : all) {
      var waiting = c.getState() == null ? null : c.getState().getWaiting();
      if (waiting != null && CANNOT_START.contains(waiting.getReason())) {
        return "container "
            + c.getName()
            + " (image "
            + c.getImage()
            + ") is waiting: "
            + waiting.getReason()
            + (waiting.getMessage() == null ? "" : ": " + clip(waiting.getMessage()));
      }
    }
    return null;
  }

  /** A message of the kubelet's as a start failure quotes it (a pull error may run long). */
  private static String clip(String message) {
    return message.length() <= 300 ? message : message.substring(0, 300) + "...";
  }

  /** The Ready condition's reason and message, when Kubernetes gives them. */
  private static String notReadyWhy(V1Pod pod) {
    String node = pod.getSpec() == null ? null : pod.getSpec().getNodeName();
    V1PodCondition c = readyCondition(pod);
    if (c == null || (c.getReason() == null && c.getMessage() == null)) {
      // The node controller marks a NotReady node's pods so, with no reason of its own.
      return "its node " + node + " may be NotReady";
    }
    return (c.getReason() == null ? "" : c.getReason() + ": ")
        + (c.getMessage() == null ? "" : c.getMessage())
        + " (node "
        + node
        + ")";
  }

  static boolean dead(V1Pod pod) {
    if (pod.getMetadata().getDeletionTimestamp() != null) {
      return true;
    }
    String phase = pod.getStatus() == null ? null : pod.getStatus().getPhase();
    return "Failed".equals(phase) || "Succeeded".equals(phase);
  }

  private static String describe(V1Pod pod) {
    var status = pod.getStatus();
    return pod.getMetadata().getName()
        + " (phase "
        + (status == null ? "?" : status.getPhase())
        + (status != null && status.getReason() != null ? ", " + status.getReason() : "")
        + (status != null && status.getMessage() != null ? ": " + status.getMessage() : "")
        + ")";
  }

  private static void sleep(long ms) throws SandboxException {
    try {
      TimeUnit.MILLISECONDS.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new SandboxException("interrupted");
    }
  }

  @Override
  public void close() {
    factory.stopAllRegisteredInformers(true);
    callbacks.shutdown();
  }
}
