package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.testing.Eventually;
import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.openapi.models.V1ContainerState;
import io.kubernetes.client.openapi.models.V1ContainerStateWaiting;
import io.kubernetes.client.openapi.models.V1ContainerStatus;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import io.kubernetes.client.openapi.models.V1Pod;
import io.kubernetes.client.openapi.models.V1PodCondition;
import io.kubernetes.client.openapi.models.V1PodSpec;
import io.kubernetes.client.openapi.models.V1PodStatus;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The informer's handlers, fed by hand (no API server): they record and enqueue, never block. */
class PodWatcherTest {
  /** A watch fed by hand, as here: its informer is not started, so its client is never called. */
  static PodWatcher unstartedWatcher() {
    ApiClient never = new ApiClient();
    never.setReadTimeout(0);
    return new PodWatcher(never, "ns", "sel");
  }

  /** The pod of a sandbox (a pool pod, or a Job's), in the phase given. */
  static V1Pod pod(String sandbox, String phase) {
    return new V1Pod()
        .metadata(
            new V1ObjectMeta()
                .name(sandbox)
                .uid("uid-" + sandbox)
                .labels(Map.of(PodSpecs.SANDBOX, sandbox)))
        .status(new V1PodStatus().phase(phase));
  }

  /** A sandbox's pod as it serves: Running on node-1, with an IP, its Ready condition True. */
  static V1Pod readyPod(String sandbox) {
    return withReady(pod(sandbox, "Running"), "True", null, null);
  }

  /**
   * The same pod, its Ready condition False: as it starts (the runner not answering yet), when its
   * runner stops answering the readiness probe (the kubelet's ContainersNotReady), or when its node
   * goes NotReady (the node controller: no reason, the phase left Running).
   */
  static V1Pod notReadyPod(String sandbox, String reason, String message) {
    return withReady(pod(sandbox, "Running"), "False", reason, message);
  }

  private static V1Pod withReady(V1Pod pod, String status, String reason, String message) {
    pod.spec(new V1PodSpec().nodeName("node-1"));
    pod.getStatus()
        .podIP("10.0.0.7")
        .conditions(
            List.of(
                new V1PodCondition().type("Ready").status(status).reason(reason).message(message)));
    return pod;
  }

  /** A pod whose only container, runner, waits with the kubelet's reason given. */
  static V1Pod waitingPod(String sandbox, String reason, String message) {
    V1Pod pod = pod(sandbox, "Pending");
    pod.getStatus()
        .containerStatuses(
            List.of(
                new V1ContainerStatus()
                    .name("runner")
                    .image("registry.example/kcr-python:1.2")
                    .ready(false)
                    .state(
                        new V1ContainerState()
                            .waiting(
                                new V1ContainerStateWaiting().reason(reason).message(message)))));
    return pod;
  }

  @Test
  void aPodGoneCallbackRunsOffTheInformerThreadWhichGoesOnAtOnce() throws Exception {
    PodWatcher watcher = unstartedWatcher();
    try {
      watcher.update(readyPod("a"));
      watcher.update(readyPod("b"));
      CountDownLatch started = new CountDownLatch(1);
      CountDownLatch release = new CountDownLatch(1);
      AtomicReference<Thread> ranOn = new AtomicReference<>();
      // Like SandboxPool.replaceDead: a blocking delete of the pod.
      watcher.onGone(
          "a",
          () -> {
            ranOn.set(Thread.currentThread());
            started.countDown();
            try {
              release.await();
            } catch (InterruptedException e) {
              Thread.currentThread().interrupt();
            }
          });
      AtomicReference<Thread> informer = new AtomicReference<>();
      // If the handler ran the callback itself, these would wait for the release: a deadlock.
      assertTimeoutPreemptively(
          Duration.ofSeconds(30),
          () -> {
            informer.set(Thread.currentThread());
            watcher.removed(readyPod("a"));
            watcher.update(pod("b", "Failed"));
          });
      assertTrue(started.await(30, TimeUnit.SECONDS), "the callback ran");
      assertNotSame(informer.get(), ranOn.get());
      assertFalse(watcher.alive("a"));
      assertFalse(watcher.alive("b"), "b's event was recorded while a's callback still blocked");
      release.countDown();
    } finally {
      watcher.close();
    }
  }

  @Test
  void aPodThatCameAndWentBeforeItsWaiterLookedIsGivenUpAtOnce() throws Exception {
    PodWatcher watcher = unstartedWatcher();
    try {
      // Created and deleted (grace 0) before the creating thread waits for it.
      watcher.update(pod("c", "Pending"));
      watcher.removed(pod("c", "Pending"));
      SandboxException e =
          assertThrows(
              SandboxException.class, () -> watcher.awaitReady("c", Duration.ofMinutes(5)));
      assertTrue(e.getMessage().contains("deleted before it was ready"), e.getMessage());
    } finally {
      watcher.close();
    }
  }

  /**
   * A watch on a connection dropped without a reset stays "synced" while it shows nothing new: a
   * pod this API created and the watch has not shown in its time says so (the health check fails).
   */
  @Test
  void aCreatedPodTheWatchDoesNotShowInTimeMarksItStalled() throws Exception {
    PodWatcher watcher = unstartedWatcher();
    try {
      watcher.expect("kcr-py-slow", Duration.ofHours(1));
      assertNull(watcher.stalled(), "still in its time");

      watcher.expect("kcr-py-unseen", Duration.ZERO);
      Eventually.await(
          "stalled", Duration.ofSeconds(5), () -> "kcr-py-unseen".equals(watcher.stalled()));

      watcher.update(pod("kcr-py-unseen", "Pending")); // the watch shows it after all
      assertNull(watcher.stalled());
    } finally {
      watcher.close();
    }
  }

  /**
   * A pool pod whose node goes NotReady keeps its phase Running, but its runner is out of reach: it
   * is alive no more for a run (the pool does not hand it out, a session does not keep it), and it
   * is reported gone at once, so the pool replaces it with no request asking.
   */
  @Test
  void aPodNoLongerReadyIsHandedToNoRunAndReportedGoneAtOnce() throws Exception {
    try (HandFedSandboxes sandboxes = new HandFedSandboxes()) {
      sandboxes.watcher.update(readyPod("kcr-py-n"));
      KubernetesSandbox sandbox = sandboxes.sandbox("kcr-py-n");
      AtomicInteger reported = new AtomicInteger();
      sandbox.onExit(reported::incrementAndGet);
      assertTrue(sandbox.isAlive());
      assertEquals(0, reported.get());

      sandboxes.watcher.update(notReadyPod("kcr-py-n", null, null)); // the node controller's mark

      assertFalse(sandbox.isAlive(), "Running, but not Ready: not for a run");
      Eventually.await("reported gone", Duration.ofSeconds(10), () -> reported.get() == 1);
    }
  }

  /** Nor a pod whose runner stops answering its readiness probe, asked after the fact. */
  @Test
  void aPodWhoseRunnerIsNotReadyIsNotAliveAndIsReportedGoneWhenAsked() throws Exception {
    try (HandFedSandboxes sandboxes = new HandFedSandboxes()) {
      sandboxes.watcher.update(readyPod("kcr-py-r"));
      KubernetesSandbox sandbox = sandboxes.sandbox("kcr-py-r");
      sandboxes.watcher.update(
          notReadyPod(
              "kcr-py-r", "ContainersNotReady", "containers with unready status: [runner]"));

      assertFalse(sandbox.isAlive());
      AtomicInteger reported = new AtomicInteger();
      sandbox.onExit(reported::incrementAndGet); // registered after: reported at once
      Eventually.await("reported gone", Duration.ofSeconds(10), () -> reported.get() == 1);
    }
  }

  /**
   * Before it is first Ready a pod's Ready condition is False too: that is a pod starting, alive
   * (what the warm-up asks), waited for, not given up.
   */
  @Test
  void aPodNotReadyYetIsWaitedForNotGivenUp() throws Exception {
    PodWatcher watcher = unstartedWatcher();
    try (var executor = Executors.newVirtualThreadPerTaskExecutor()) {
      watcher.update(
          notReadyPod(
              "kcr-py-s", "ContainersNotReady", "containers with unready status: [runner]"));
      assertTrue(watcher.alive("kcr-py-s"));
      Future<PodWatcher.Ready> waiting =
          executor.submit(() -> watcher.awaitReady("kcr-py-s", Duration.ofMinutes(5)));

      watcher.update(readyPod("kcr-py-s"));

      assertEquals("10.0.0.7", waiting.get(30, TimeUnit.SECONDS).ip());
    } finally {
      watcher.close();
    }
  }

  /**
   * A container that waits for what no wait mends (an image that cannot be pulled or may not be, a
   * container its configuration cannot make): the start fails at once, naming the container, its
   * image and the kubelet's reason, rather than holding its start slot for the whole start timeout.
   */
  @Test
  void aPodThatCanNeverStartFailsItsStartAtOnceSayingWhy() {
    PodWatcher watcher = unstartedWatcher();
    try {
      for (String reason :
          List.of(
              "ImagePullBackOff",
              "ErrImageNeverPull",
              "InvalidImageName",
              "CreateContainerConfigError")) {
        String name = "kcr-py-" + reason.toLowerCase(java.util.Locale.ROOT);
        watcher.update(waitingPod(name, reason, "the kubelet's words"));
        SandboxException e =
            assertTimeoutPreemptively(
                Duration.ofSeconds(30),
                () ->
                    assertThrows(
                        SandboxException.class,
                        () -> watcher.awaitReady(name, Duration.ofMinutes(5))));
        assertTrue(
            e.getMessage().contains("container runner (image registry.example/kcr-python:1.2)")
                && e.getMessage().contains(reason + ": the kubelet's words"),
            e.getMessage());
      }
    } finally {
      watcher.close();
    }
  }

  /**
   * A pull that failed once may be a moment's (a registry's 5xx or rate limit): the start waits on,
   * as it does for a container still being made, until the kubelet backs off the pull.
   */
  @Test
  void aPullFailedOnceOrAContainerBeingMadeIsWaitedFor() {
    PodWatcher watcher = unstartedWatcher();
    try {
      for (String reason : List.of("ErrImagePull", "ContainerCreating")) {
        String name = "kcr-py-" + reason.toLowerCase(java.util.Locale.ROOT);
        watcher.update(waitingPod(name, reason, "429 Too Many Requests"));
        SandboxException e =
            assertThrows(SandboxException.class, () -> watcher.awaitReady(name, Duration.ZERO));
        assertTrue(e.getMessage().contains("not ready within"), e.getMessage());
      }
    } finally {
      watcher.close();
    }
  }
}
