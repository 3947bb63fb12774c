package dev.kubecoderun.sandbox.kubernetes;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import io.kubernetes.client.openapi.ApiException;

/**
 * Whether the Kubernetes API answers this API's identity, and whether the pod watch is synced and
 * keeps up (it shows the pods this API creates).
 */
public final class KubernetesHealthCheck implements HealthCheck {
  private final SandboxObjects objects;
  private final String selector;
  private final PodWatcher watcher;

  KubernetesHealthCheck(SandboxObjects objects, String selector, PodWatcher watcher) {
    this.objects = objects;
    this.selector = selector;
    this.watcher = watcher;
  }

  @Override
  public String name() {
    return "kubernetes";
  }

  @Override
  public HealthCheckResponse call() {
    var b = HealthCheckResponse.builder().detail("namespace", objects.namespace());
    b.detail("watch_synced", watcher.synced());
    String unseen = watcher.stalled();
    if (unseen != null) {
      b.detail("watch_stalled", "created pod " + unseen + " not shown by the watch in time");
    }
    try {
      objects.ping(selector);
      return b.status(watcher.synced() && unseen == null).detail("api", "reachable").build();
    } catch (ApiException e) {
      return b.status(false).detail("api", "error " + e.getCode() + ": " + e.getMessage()).build();
    } catch (RuntimeException e) {
      return b.status(false).detail("api", "unreachable: " + e.getMessage()).build();
    }
  }
}
