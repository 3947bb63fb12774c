package dev.kubecoderun.session;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class LocalSessionLocksTest {
  @Test
  void nothingIsKeptOnceTheRunsAreDone() throws Exception {
    LocalSessionLocks locks = new LocalSessionLocks();
    for (int i = 0; i < 100; i++) {
      String sid = Ids.next();
      SessionLocks.Lease held = locks.acquire(sid, Duration.ZERO);
      assertThrows(SessionBusyException.class, () -> locks.acquire(sid, Duration.ofMillis(1)));
      assertEquals(1, locks.tracked());
      held.close();
      held.close();
    }
    assertEquals(0, locks.tracked());
  }
}
