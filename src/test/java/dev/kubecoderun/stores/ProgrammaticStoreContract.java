package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.execution.ProgrammaticStore;
import dev.kubecoderun.session.Ids;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** What every ProgrammaticStore does; with Redis each replica() shares the same Redis. */
abstract class ProgrammaticStoreContract {
  abstract ProgrammaticStore replica();

  static final Duration LONG = Duration.ofMinutes(1);

  @Test
  void aTokenIsUsedOnceAcrossReplicas() {
    ProgrammaticStore a = replica();
    ProgrammaticStore b = replica();
    String token = Ids.next();
    a.putToken(token, new ProgrammaticStore.Token("exec1", "key:abc"), LONG);
    assertEquals(Optional.of(new ProgrammaticStore.Token("exec1", "key:abc")), b.token(token));
    assertFalse(b.used(token));
    assertTrue(b.consume(token, LONG));
    assertTrue(a.used(token));
    assertFalse(a.consume(token, LONG), "a second use is refused");
    assertEquals(Optional.empty(), a.token(Ids.next()));
  }

  @Test
  void anExecutionRecordExpiresAndCanBeDeleted() throws Exception {
    ProgrammaticStore a = replica();
    String id = Ids.next();
    ProgrammaticStore.Execution e =
        new ProgrammaticStore.Execution(
            "jwt:t/u", "http://10.0.0.1:8080", "tok", "sid", List.of("t"));
    a.putExecution(id, e, LONG);
    assertEquals(Optional.of(e), replica().execution(id));
    replica().deleteExecution(id);
    assertEquals(Optional.empty(), a.execution(id));
    a.putExecution(id, e, Duration.ofMillis(200));
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (a.execution(id).isPresent() && System.nanoTime() < end) {
      Thread.sleep(50);
    }
    assertEquals(Optional.empty(), a.execution(id), "expired");
  }

  @Test
  void aWaitingReplicaGetsTheFinalAnswerAnotherOnePuts() throws Exception {
    ProgrammaticStore waiter = replica();
    ProgrammaticStore owner = replica();
    String id = Ids.next();
    assertEquals(Optional.empty(), waiter.awaitFinal(id, Duration.ofMillis(100)));
    CompletableFuture<Optional<String>> got =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return waiter.awaitFinal(id, Duration.ofSeconds(20));
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            });
    owner.putFinal(id, "{\"status\":\"completed\"}", LONG);
    assertEquals(Optional.of("{\"status\":\"completed\"}"), got.get(20, TimeUnit.SECONDS));
  }

  @Test
  void requestIdsArePerPrincipal() {
    ProgrammaticStore a = replica();
    a.putRequest("key:one", "req-1", "exec1", LONG);
    assertEquals(Optional.of("exec1"), replica().request("key:one", "req-1"));
    assertEquals(Optional.empty(), replica().request("key:two", "req-1"));
  }

  /** A refused request's id is forgotten, by any replica, only while it names the refused run. */
  @Test
  void aRequestIdIsForgottenOnlyForItsRun() {
    ProgrammaticStore a = replica();
    String requestId = Ids.next();
    a.putRequest("key:one", requestId, "exec1", LONG);
    replica().deleteRequest("key:one", requestId, "exec2");
    replica().deleteRequest("key:two", requestId, "exec1");
    assertEquals(Optional.of("exec1"), a.request("key:one", requestId));
    replica().deleteRequest("key:one", requestId, "exec1");
    assertEquals(Optional.empty(), a.request("key:one", requestId));
  }

  /**
   * A wait is cancelled by any replica while it lasts; its end says whether it was, once; a wait
   * ended (the run handed over) or never put cannot be cancelled.
   */
  @Test
  void aWaitingRunIsCancelledOnlyWhileItWaits() throws Exception {
    ProgrammaticStore owner = replica();
    String cancelled = Ids.next();
    owner.putWaiting(cancelled, LONG);
    assertTrue(replica().cancelWaiting(cancelled));
    assertTrue(replica().cancelWaiting(cancelled), "cancelled twice: still the same wait");
    assertTrue(owner.endWaiting(cancelled), "the owner finds the cancel");
    assertFalse(owner.endWaiting(cancelled), "once");
    assertFalse(replica().cancelWaiting(cancelled), "ended: nothing to cancel");

    String handedOver = Ids.next();
    owner.putWaiting(handedOver, LONG);
    assertFalse(owner.endWaiting(handedOver), "not cancelled");
    assertFalse(replica().cancelWaiting(handedOver), "handed over: no longer waiting");
    assertFalse(owner.endWaiting(handedOver));

    assertFalse(replica().cancelWaiting(Ids.next()), "unknown");
    String expiring = Ids.next();
    owner.putWaiting(expiring, Duration.ofMillis(200));
    long end = System.nanoTime() + Duration.ofSeconds(10).toNanos();
    while (replica().cancelWaiting(expiring) && System.nanoTime() < end) {
      Thread.sleep(50);
    }
    assertFalse(replica().cancelWaiting(expiring), "expired: a cancel keeps the wait's expiry");
    assertFalse(owner.endWaiting(expiring), "expired");
  }
}
