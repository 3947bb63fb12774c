package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.testing.Eventually;
import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import io.kubernetes.client.openapi.models.V1Pod;
import io.kubernetes.client.openapi.models.V1PodStatus;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
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

  @Test
  void aPodGoneCallbackRunsOffTheInformerThreadWhichGoesOnAtOnce() throws Exception {
    PodWatcher watcher = unstartedWatcher();
    try {
      watcher.update(pod("a", "Running"));
      watcher.update(pod("b", "Running"));
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
            watcher.removed(pod("a", "Running"));
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
}
