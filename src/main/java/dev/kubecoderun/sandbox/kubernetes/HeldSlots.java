package dev.kubecoderun.sandbox.kubernetes;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The slots sandbox objects hold (a permit of K8S_MAX_PODS or K8S_MAX_JOBS, a pod identity), freed
 * only once the object is known gone or going: the API server accepted its delete or had no such
 * object. A delete that failed (the API server briefly unreachable) leaves the object, so its slot
 * stays held, or a brownout would let the real pods exceed the caps and two live pods share a uid.
 * The stray sweep retries such deletes until one takes (deleted after all, or by someone else: a
 * 404): never lost for good. Not freed for its pod not being shown: a Job whose start timed out
 * before its pod came still exists, and its pod may come later.
 */
final class HeldSlots {
  /** A sandbox whose delete failed: what it is, and what frees its slot. */
  private record Held(boolean job, Runnable free) {}

  private final SandboxObjects objects;
  private final Map<String, Held> unfreed = new ConcurrentHashMap<>();

  HeldSlots(SandboxObjects objects) {
    this.objects = objects;
  }

  /** Deletes a sandbox; {@code free} runs once, now if the delete took, else when a retry does. */
  void delete(String name, boolean job, Runnable free) {
    // Held before the delete is sent: the stray sweep may retry it meanwhile.
    unfreed.put(name, new Held(job, free));
    if (objects.delete(name, job)) {
      freed(name);
    }
  }

  /** Retries the deletes that failed, freeing the slots of those that take now. */
  void deleteAgain() {
    Map.copyOf(unfreed)
        .forEach(
            (name, h) -> {
              if (objects.delete(name, h.job())) {
                freed(name);
              }
            });
  }

  private void freed(String name) {
    Held h = unfreed.remove(name);
    if (h != null) {
      h.free().run();
    }
  }
}
