package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.common.Json;
import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.openapi.ApiException;
import io.kubernetes.client.openapi.apis.BatchV1Api;
import io.kubernetes.client.openapi.apis.CoreV1Api;
import io.kubernetes.client.openapi.models.V1Job;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import io.kubernetes.client.openapi.models.V1Pod;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.logging.Logger;

/** The API calls on sandbox objects: create and delete pods and Jobs, list this instance's. */
final class SandboxObjects {
  private static final Logger LOG = Logger.getLogger(SandboxObjects.class.getName());

  private final CoreV1Api core;
  private final BatchV1Api batch;
  private final String namespace;

  SandboxObjects(ApiClient client, String namespace) {
    this.core = new CoreV1Api(client);
    this.batch = new BatchV1Api(client);
    this.namespace = namespace;
  }

  String namespace() {
    return namespace;
  }

  /** Creates a pod and returns it as the API server stored it (fields it does not know dropped). */
  V1Pod createPod(V1Pod pod) throws ApiException {
    return core.createNamespacedPod(namespace, pod).execute();
  }

  /**
   * Asks the API server to create {@code pod} without creating it (dryRun=All: admission runs,
   * nothing is stored). Null when it would be created; the API server's refusal otherwise.
   *
   * @throws ApiException when there is no answer on the pod itself (unreachable, 5xx)
   */
  String refusalOf(V1Pod pod) throws ApiException {
    try {
      core.createNamespacedPod(namespace, pod).dryRun("All").execute();
      return null;
    } catch (ApiException e) {
      if (e.getCode() >= 400 && e.getCode() < 500) {
        return e.getCode() + " " + message(e.getResponseBody());
      }
      throw e;
    }
  }

  void createJob(V1Job job) throws ApiException {
    batch.createNamespacedJob(namespace, job).execute();
  }

  /**
   * Deletes a pod; already gone is fine. Never throws: a leftover is swept or collected later. A
   * caller interrupted (a start given up at shutdown) still deletes: the interrupt would abort the
   * call before it is sent, and the pod would stay.
   *
   * @return whether the pod is gone or going (the API server accepted the delete, or had no such
   *     pod); false when the delete failed and the pod may still run
   */
  boolean deletePod(String name) {
    return delete("pod", name, () -> core.deleteNamespacedPod(name, namespace).execute());
  }

  /**
   * Deletes a Job and, in the background, its pod (the garbage collector follows the owner). Like
   * {@link #deletePod}, also when the caller is interrupted, and with the same answer.
   */
  boolean deleteJob(String name) {
    return delete(
        "job",
        name,
        () -> batch.deleteNamespacedJob(name, namespace).propagationPolicy("Background").execute());
  }

  /** A delete call to the API server. */
  @FunctionalInterface
  private interface Call {
    void execute() throws ApiException;
  }

  /** Runs a delete as {@link #deletePod} says: interrupt set aside, 404 taken as done. */
  private static boolean delete(String kind, String name, Call call) {
    boolean interrupted = Thread.interrupted();
    try {
      call.execute();
      return true;
    } catch (ApiException e) {
      if (e.getCode() == 404) {
        return true;
      }
      LOG.warning("cannot delete " + kind + " " + name + ": " + reason(e));
      return false;
    } catch (RuntimeException e) {
      LOG.warning("cannot delete " + kind + " " + name + ": " + e);
      return false;
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /**
   * Deletes a sandbox: a Job (with its pod) when {@code job}, else a bare pod. Never throws; says
   * whether it is gone or going, as {@link #deletePod}.
   */
  boolean delete(String name, boolean job) {
    return job ? deleteJob(name) : deletePod(name);
  }

  /** The {@code message} of the API server's Status answer, else the answer itself. */
  private static String message(String body) {
    if (body == null) {
      return "";
    }
    try {
      String m = Json.tree(body.getBytes(StandardCharsets.UTF_8)).path("message").asText("");
      return m.isEmpty() ? body : m;
    } catch (java.io.IOException | RuntimeException e) {
      return body;
    }
  }

  /** The API server's answer, or why there was none (code 0: no connection). */
  static String reason(ApiException e) {
    return e.getCode() == 0
        ? "API server unreachable (" + e.getMessage() + ")"
        : e.getCode() + " " + e.getResponseBody();
  }

  /**
   * Pods matching {@code selector} that no Job owns (Jobs delete their own) and that are not being
   * deleted already, by name, with their owner label.
   */
  Map<String, String> podOwners(String selector) throws ApiException {
    return podOwners(selector, false);
  }

  /**
   * As {@link #podOwners(String)}; {@code leasedOnly}: only pods without an owner reference. A pod
   * with one (an API pod in its own namespace owns its sandboxes) is the garbage collector's, and
   * its API keeps no Lease: it must not be taken for the sandbox of a gone API pod.
   */
  Map<String, String> podOwners(String selector, boolean leasedOnly) throws ApiException {
    Map<String, String> out = new HashMap<>();
    for (V1Pod p : core.listNamespacedPod(namespace).labelSelector(selector).execute().getItems()) {
      Map<String, String> labels = p.getMetadata().getLabels();
      if (!"job".equals(labels.get(PodSpecs.ROLE))
          && p.getMetadata().getDeletionTimestamp() == null
          && !(leasedOnly && hasOwner(p.getMetadata()))) {
        out.put(p.getMetadata().getName(), labels.getOrDefault(PodSpecs.OWNER, ""));
      }
    }
    return out;
  }

  private static boolean hasOwner(V1ObjectMeta meta) {
    return meta.getOwnerReferences() != null && !meta.getOwnerReferences().isEmpty();
  }

  /** Jobs matching {@code selector} by name, with their owner label. */
  Map<String, String> jobOwners(String selector) throws ApiException {
    return jobOwners(selector, false);
  }

  /** As {@link #podOwners(String, boolean)}, for Jobs. */
  Map<String, String> jobOwners(String selector, boolean leasedOnly) throws ApiException {
    Map<String, String> out = new HashMap<>();
    for (V1Job j :
        batch.listNamespacedJob(namespace).labelSelector(selector).execute().getItems()) {
      if (!(leasedOnly && hasOwner(j.getMetadata()))) {
        out.put(
            j.getMetadata().getName(),
            j.getMetadata().getLabels().getOrDefault(PodSpecs.OWNER, ""));
      }
    }
    return out;
  }

  /** A cheap authorised call: reachability and RBAC in one (for the health check). */
  void ping(String selector) throws ApiException {
    core.listNamespacedPod(namespace).labelSelector(selector).limit(1).execute();
  }
}
