package dev.kubecoderun.sandbox.kubernetes;

import io.kubernetes.client.openapi.ApiException;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.logging.Logger;

/**
 * At start, deletes the pods and Jobs a previous run of this API instance left behind (a crash, a
 * SIGKILL): at that moment no live sandbox tracks any of them. Pods of a vanished API pod are
 * collected by the garbage collector through their ownerReference instead, or, in a namespace of
 * their own, by another API pod once that pod's owner Lease has expired (OwnerLeases).
 */
final class OrphanCleaner {
  private static final Logger LOG = Logger.getLogger(OrphanCleaner.class.getName());

  private OrphanCleaner() {}

  /** Returns how many objects it deleted. */
  static int sweep(SandboxObjects objects, String selector) throws ApiException {
    Set<String> jobs = objects.jobOwners(selector).keySet();
    Set<String> pods = objects.podOwners(selector).keySet();
    // In parallel: each delete is one round trip to the API server.
    try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
      jobs.forEach(j -> pool.submit(() -> objects.deleteJob(j)));
      pods.forEach(p -> pool.submit(() -> objects.deletePod(p)));
    }
    int n = jobs.size() + pods.size();
    if (n > 0) {
      LOG.info(
          "deleted "
              + pods.size()
              + " leftover pod(s) and "
              + jobs.size()
              + " leftover job(s) of a previous run");
    }
    return n;
  }
}
