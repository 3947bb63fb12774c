package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A sandbox's slot (its cap permit, its pod identity) is freed only once its object is gone or
 * going, so that during an API server brownout the real pods stay within K8S_MAX_PODS and
 * K8S_MAX_JOBS; and it is never lost for good: the stray sweep retries the delete until it takes.
 * The API server here is a stand-in that answers deletes with the status the test sets.
 */
class HeldSlotsTest {
  private StandInApiServer apiServer;
  private volatile int deleteStatus = 200;
  private final List<String> deletes = new CopyOnWriteArrayList<>(); // "DELETE /api/v1/..."
  private final AtomicInteger freed = new AtomicInteger();
  private HeldSlots slots;

  @BeforeEach
  void startApiServer() throws Exception {
    apiServer =
        StandInApiServer.start(
            exchange -> {
              deletes.add(exchange.getRequestMethod() + " " + exchange.getRequestURI().getPath());
              int status = deleteStatus;
              // As the API server: a pod's delete answers the pod (being deleted), a Job's a
              // Status.
              String deleted =
                  exchange.getRequestURI().getPath().contains("/pods/")
                      ? "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{}}"
                      : "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":\"Success\"}";
              StandInApiServer.reply(
                  exchange, status, status == 200 ? deleted : StandInApiServer.failure(status));
            });
    slots = new HeldSlots(new SandboxObjects(apiServer.client(), "sandboxes"));
  }

  @AfterEach
  void stopApiServer() {
    apiServer.close();
  }

  @Test
  void aDeleteTheApiServerAcceptedOrHadNoObjectForFreesTheSlotAtOnce() {
    deleteStatus = 200;
    slots.delete("kcr-job-c-1", true, freed::incrementAndGet);
    assertEquals(1, freed.get(), "deleted");
    deleteStatus = 404;
    slots.delete("kcr-job-c-2", true, freed::incrementAndGet);
    assertEquals(2, freed.get(), "already gone");
    assertEquals(Set.of(), deletedAgain(), "nothing left to retry");
  }

  @Test
  void aFailedDeleteHoldsTheSlotUntilARetriedDeleteTakes() {
    deleteStatus = 503; // the API server browning out: the pod stays
    slots.delete("kcr-py-1", false, freed::incrementAndGet);
    assertEquals(0, freed.get(), "the pod may still run: its slot is still held");

    assertEquals(Set.of("kcr-py-1"), deletedAgain()); // still browning out
    assertEquals(0, freed.get());

    deleteStatus = 200;
    assertEquals(Set.of("kcr-py-1"), deletedAgain()); // the stray sweep's retry took
    assertEquals(Set.of(), deletedAgain());
    assertEquals(1, freed.get(), "freed once");
  }

  @Test
  void aFailedDeletesSlotIsFreedOnceARetryFindsTheObjectGone() {
    deleteStatus = 500;
    slots.delete("kcr-py-1", false, freed::incrementAndGet);
    assertEquals(0, freed.get());

    deleteStatus = 404; // deleted after all, or by someone else
    slots.deleteAgain();
    slots.deleteAgain();
    assertEquals(1, freed.get(), "freed once");
  }

  /**
   * A Job whose start timed out before its pod came, and whose delete failed: the watch shows no
   * pod of it, yet the Job is there and its pod may still come. Its slot stays held until the Job's
   * delete is retried and takes.
   */
  @Test
  void aJobWhoseDeleteFailedWithNoPodShownKeepsItsSlotUntilARetriedDeleteTakes() {
    deleteStatus = 503;
    slots.delete("kcr-job-py-1", true, freed::incrementAndGet);
    slots.deleteAgain();
    assertEquals(0, freed.get(), "the Job is still there: its slot is still held");
    assertEquals(
        List.of(
            "DELETE /apis/batch/v1/namespaces/sandboxes/jobs/kcr-job-py-1",
            "DELETE /apis/batch/v1/namespaces/sandboxes/jobs/kcr-job-py-1"),
        deletes,
        "the retry deletes the Job itself, not a pod");

    deleteStatus = 200;
    slots.deleteAgain();
    assertEquals(1, freed.get(), "freed once the Job's delete took");
  }

  /** Retries the failed deletes; says which sandboxes the API server got a delete for. */
  private Set<String> deletedAgain() {
    int before = deletes.size();
    slots.deleteAgain();
    return deletes.subList(before, deletes.size()).stream()
        .map(d -> d.substring(d.lastIndexOf('/') + 1))
        .collect(Collectors.toSet());
  }
}
