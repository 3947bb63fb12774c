package dev.kubecoderun.sandbox.kubernetes;

import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.openapi.ApiException;
import io.kubernetes.client.openapi.apis.CoordinationV1Api;
import io.kubernetes.client.openapi.models.V1Lease;
import io.kubernetes.client.openapi.models.V1LeaseSpec;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.logging.Logger;

/**
 * Sandboxes in a namespace of their own cannot name the API pod (in another namespace) as their
 * owner: Kubernetes' garbage collector does not follow owner references across namespaces. So each
 * API pod holds a Lease in the sandboxes' namespace, renewed every third of its duration while it
 * lives; the sandboxes of an API pod whose Lease has expired (the pod is gone without a clean stop)
 * are deleted by any other API pod's sweep, and so is the Lease.
 */
final class OwnerLeases implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(OwnerLeases.class.getName());
  static final String ROLE_LABEL_VALUE = "owner-lease";

  private final CoordinationV1Api api;
  private final String namespace;
  private final String instance;
  private final Duration duration;
  private final String name;
  private volatile V1Lease mine;
  private Thread renewer;

  OwnerLeases(ApiClient client, String namespace, String instance, Duration duration) {
    this.api = new CoordinationV1Api(client);
    this.namespace = namespace;
    this.instance = instance;
    this.duration = duration;
    this.name = "kcr-owner-" + instance;
  }

  /**
   * The shortest Lease an operator should give. Another API pod deletes this one's sandboxes, runs
   * and all, once the Lease was not renewed for twice its duration D; a renewal is tried D/3 after
   * the last one and is a request call, which may take up to 40 s against a busy API server
   * (KubeClients: 10 s to connect, 30 s to read) before it fails and is tried again {@link #RETRY}
   * later: D/3 + 40 s + 1 s + the retry's own time must stay under 2 D.
   */
  static final Duration SAFE_DURATION = Duration.ofSeconds(30);

  /** How soon a renewal that failed is tried again (at most a third of the Lease). */
  static final Duration RETRY = Duration.ofSeconds(1);

  /** A warning for a Lease shorter than {@link #SAFE_DURATION}, or null. */
  static String shortLeaseWarning(Duration duration) {
    if (duration.compareTo(SAFE_DURATION) >= 0) {
      return null;
    }
    return "K8S_OWNER_LEASE_SECONDS="
        + duration.toSeconds()
        + " is shorter than "
        + SAFE_DURATION.toSeconds()
        + " s: a renewal slowed by a busy API server (a call may take 40 s) can make another API"
        + " pod take this one for gone and delete its sandboxes, running ones included";
  }

  /** Takes (or takes over, after a restart of the same pod) this API pod's Lease and renews it. */
  void start() throws ApiException {
    V1Lease lease =
        new V1Lease()
            .metadata(
                new V1ObjectMeta()
                    .name(name)
                    .labels(
                        Map.of(
                            PodSpecs.MANAGED_BY,
                            "kubecoderun",
                            PodSpecs.ROLE,
                            ROLE_LABEL_VALUE,
                            PodSpecs.OWNER,
                            instance)))
            .spec(
                new V1LeaseSpec()
                    .holderIdentity(instance)
                    .leaseDurationSeconds((int) duration.toSeconds())
                    .renewTime(now()));
    try {
      mine = api.createNamespacedLease(namespace, lease).execute();
    } catch (ApiException e) {
      if (e.getCode() != 409) {
        throw e;
      }
      // Left by an earlier run of this same pod: renew it.
      V1Lease old = find();
      lease
          .getMetadata()
          .resourceVersion(old == null ? null : old.getMetadata().getResourceVersion());
      mine = api.replaceNamespacedLease(name, namespace, lease).execute();
    }
    String warning = shortLeaseWarning(duration);
    if (warning != null) {
      LOG.warning(warning);
    }
    renewer = Thread.ofVirtual().name("kcr-owner-lease").start(this::renewLoop);
  }

  private void renewLoop() {
    Duration period = duration.dividedBy(3);
    Duration wait = period;
    while (!Thread.currentThread().isInterrupted()) {
      try {
        Thread.sleep(wait);
      } catch (InterruptedException e) {
        return;
      }
      // A failed renewal is tried again soon, not a period later: the Lease must not lapse.
      wait = renew() ? period : (RETRY.compareTo(period) < 0 ? RETRY : period);
    }
  }

  /** Renews the Lease; false when it could not (then tried again soon). */
  private boolean renew() {
    try {
      V1Lease next = mine;
      next.getSpec().renewTime(now());
      mine = api.replaceNamespacedLease(name, namespace, next).execute();
      return true;
    } catch (ApiException e) {
      LOG.warning("cannot renew the owner lease " + name + ": " + e.getMessage());
      if (e.getCode() == 404 || e.getCode() == 409) {
        resync(); // lost, or changed meanwhile (a renewal that took after all): read it again
      }
      return false;
    } catch (RuntimeException e) {
      LOG.warning("cannot renew the owner lease " + name + ": " + e);
      return false;
    }
  }

  /** Takes the Lease anew when it is gone, else its current version for the next renewal. */
  private void resync() {
    try {
      V1Lease current = find();
      if (current == null) {
        start0();
      } else {
        mine = current;
      }
    } catch (ApiException | RuntimeException e) {
      // the API server is unreachable: the next renewal tries again
    }
  }

  private void start0() throws ApiException {
    V1Lease lease = mine;
    lease.getMetadata().resourceVersion(null);
    lease.getSpec().renewTime(now());
    mine = api.createNamespacedLease(namespace, lease).execute();
  }

  private V1Lease find() throws ApiException {
    return leases().stream()
        .filter(l -> name.equals(l.getMetadata().getName()))
        .findFirst()
        .orElse(null);
  }

  private List<V1Lease> leases() throws ApiException {
    return api.listNamespacedLease(namespace)
        .labelSelector(
            PodSpecs.MANAGED_BY + "=kubecoderun," + PodSpecs.ROLE + "=" + ROLE_LABEL_VALUE)
        .execute()
        .getItems();
  }

  /**
   * The instance ids of the API pods whose Lease is alive (renewed within its duration, with as
   * much again for clock skew and a slow API server), this one included; expired Leases are
   * deleted.
   */
  Set<String> liveOwners() throws ApiException {
    Set<String> live = new HashSet<>();
    live.add(instance);
    OffsetDateTime now = now();
    for (V1Lease l : leases()) {
      V1LeaseSpec spec = l.getSpec();
      String holder = spec == null ? null : spec.getHolderIdentity();
      int secs =
          spec == null || spec.getLeaseDurationSeconds() == null
              ? 60
              : spec.getLeaseDurationSeconds();
      OffsetDateTime renewed = spec == null ? null : spec.getRenewTime();
      if (holder != null && renewed != null && renewed.plusSeconds(2L * secs).isAfter(now)) {
        live.add(holder);
      } else if (!name.equals(l.getMetadata().getName())) {
        try {
          api.deleteNamespacedLease(l.getMetadata().getName(), namespace).execute();
        } catch (ApiException e) {
          // another API pod deleted it first
        }
      }
    }
    return live;
  }

  /** Stops renewing and gives the Lease up (a clean stop deletes its own sandboxes itself). */
  @Override
  public void close() {
    if (renewer != null) {
      renewer.interrupt();
    }
    try {
      api.deleteNamespacedLease(name, namespace).execute();
    } catch (ApiException | RuntimeException e) {
      // it expires on its own
    }
  }

  private static OffsetDateTime now() {
    return OffsetDateTime.now(ZoneOffset.UTC);
  }
}
