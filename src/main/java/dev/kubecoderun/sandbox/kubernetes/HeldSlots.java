package dev.kubecoderun.sandbox.kubernetes;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Predicate;

/**
 * The slots sandbox objects hold (a permit of K8S_MAX_PODS or K8S_MAX_JOBS, a pod identity), freed
 * only once the object is known gone or going: the API server accepted its delete or had no such
 * object. A delete that failed (the API server briefly unreachable) leaves the pod running, so its
 * slot stays held, or a brownout would let the real pods exceed the caps and two live pods share a
 * uid. It is freed later, when the stray sweep's delete of it succeeds, or when the watch no longer
 * shows its pod (deleted after all, or by someone else): never lost for good.
 */
final class HeldSlots {
  private final SandboxObjects objects;
  // Sandboxes whose delete failed, by name: what frees their slot.
  private final Map<String, Runnable> unfreed = new ConcurrentHashMap<>();

  HeldSlots(SandboxObjects objects) {
    this.objects = objects;
  }

  /** Deletes a sandbox; {@code free} runs once, now if the delete took, else when it is gone. */
  void delete(String name, boolean job, Runnable free) {
    // Held before the delete is sent: the stray sweep may delete it again meanwhile.
    unfreed.put(name, free);
    if (objects.delete(name, job)) {
      freed(name);
    }
  }

  /** The stray sweep deleted a sandbox no live one tracks: if its slot is still held, it goes. */
  void deletedAgain(String name) {
    freed(name);
  }

  /** Frees the held slots of the sandboxes whose pod {@code shown} (the watch) no longer has. */
  void freeGone(Predicate<String> shown) {
    for (String name : List.copyOf(unfreed.keySet())) {
      if (!shown.test(name)) {
        freed(name);
      }
    }
  }

  /** How many slots wait for their object to go. */
  int held() {
    return unfreed.size();
  }

  private void freed(String name) {
    Runnable free = unfreed.remove(name);
    if (free != null) {
      free.run();
    }
  }
}
