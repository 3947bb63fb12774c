package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.SessionBusyException;
import dev.kubecoderun.session.SessionLocks;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** What every SessionLocks does; run against the in-process locks and against Redis. */
abstract class SessionLocksContract {
  /** The locks of one replica; with Redis, each call is another replica sharing the same Redis. */
  abstract SessionLocks replica();

  static final Duration LONG = Duration.ofSeconds(30);

  @Test
  void runsOfOneSessionGoOneAtATime() throws Exception {
    String sid = Ids.next();
    AtomicInteger inside = new AtomicInteger();
    AtomicInteger mostAtOnce = new AtomicInteger();
    List<CompletableFuture<Void>> runs = new ArrayList<>();
    for (int i = 0; i < 6; i++) {
      SessionLocks locks = replica();
      runs.add(
          CompletableFuture.runAsync(
              () -> {
                try {
                  SessionLocks.Lease lease = locks.acquire(sid, LONG);
                  mostAtOnce.accumulateAndGet(inside.incrementAndGet(), Math::max);
                  Thread.sleep(30); // a short run
                  inside.decrementAndGet();
                  lease.close();
                } catch (InterruptedException e) {
                  throw new IllegalStateException(e);
                }
              },
              java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()));
    }
    CompletableFuture.allOf(runs.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
    assertEquals(1, mostAtOnce.get());
  }

  @Test
  void aWaitingRunGoesOnAsSoonAsTheOneBeforeEnds() throws Exception {
    String sid = Ids.next();
    SessionLocks a = replica();
    SessionLocks b = replica();
    List<String> order = new CopyOnWriteArrayList<>();
    SessionLocks.Lease first = a.acquire(sid, LONG);
    CountDownLatch started = new CountDownLatch(1);
    Thread second =
        Thread.ofVirtual()
            .start(
                () -> {
                  started.countDown();
                  try {
                    SessionLocks.Lease lease = b.acquire(sid, LONG);
                    order.add("second");
                    lease.close();
                  } catch (InterruptedException e) {
                    order.add("interrupted");
                  }
                });
    started.await();
    second.join(200); // it is waiting, not done
    assertTrue(order.isEmpty(), order.toString());
    order.add("first done");
    first.close();
    second.join(10_000);
    assertEquals(List.of("first done", "second"), order);
  }

  @Test
  void theWaitIsBoundedThenTheSessionIsBusy() throws Exception {
    String sid = Ids.next();
    SessionLocks a = replica();
    SessionLocks.Lease held = a.acquire(sid, LONG);
    try {
      long start = System.nanoTime();
      SessionBusyException e =
          assertThrows(
              SessionBusyException.class, () -> replica().acquire(sid, Duration.ofMillis(300)));
      long waitedMs = (System.nanoTime() - start) / 1_000_000;
      assertTrue(waitedMs >= 300, "gave up after " + waitedMs + " ms");
      assertEquals(sid, e.sessionId());
      assertThrows(SessionBusyException.class, () -> a.acquire(sid, Duration.ZERO));
    } finally {
      held.close();
    }
    // Given up waits leave nothing behind: the session is free at once.
    replica().acquire(sid, Duration.ZERO).close();
  }

  @Test
  void otherSessionsDoNotWait() throws Exception {
    SessionLocks a = replica();
    List<SessionLocks.Lease> held = new ArrayList<>();
    held.add(a.acquire(Ids.next(), LONG));
    held.add(a.acquire(Ids.next(), Duration.ZERO));
    held.add(replica().acquire(Ids.next(), Duration.ZERO));
    held.forEach(SessionLocks.Lease::close);
  }

  @Test
  void closingTwiceFreesOnce() throws Exception {
    String sid = Ids.next();
    SessionLocks a = replica();
    SessionLocks.Lease first = a.acquire(sid, LONG);
    first.close();
    SessionLocks.Lease second = a.acquire(sid, Duration.ZERO);
    first.close(); // must not free the second holder's lock
    assertThrows(SessionBusyException.class, () -> replica().acquire(sid, Duration.ZERO));
    second.close();
    replica().acquire(sid, Duration.ZERO).close();
  }
}
