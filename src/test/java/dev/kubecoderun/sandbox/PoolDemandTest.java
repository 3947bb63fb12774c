package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kubecoderun.language.Language;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class PoolDemandTest {
  private final AtomicLong now = new AtomicLong(1_000_000_000_000L);

  private PoolDemand demand(int cap) {
    return new PoolDemand(l -> l == Language.PY ? 2 : 0, cap, now::get);
  }

  private void advance(int seconds) {
    now.addAndGet(seconds * 1_000_000_000L);
  }

  @Test
  void theConfiguredSizeUntilDemandAsksForMore() {
    PoolDemand d = demand(50);
    assertEquals(2, d.applyAsInt(Language.PY));
    assertEquals(0, d.applyAsInt(Language.GO));
    d.taken(Language.PY);
    // No refill time seen yet: no demand.
    assertEquals(2, d.applyAsInt(Language.PY));
    d.refilled(Language.PY, Duration.ofMillis(1500));
    d.taken(Language.PY);
    d.taken(Language.PY);
    d.taken(Language.PY);
    // 4 in use x 1.5 s.
    assertEquals(6, d.applyAsInt(Language.PY));
  }

  @Test
  void thePeakIsRememberedForAMinuteThenForgotten() {
    PoolDemand d = demand(50);
    d.refilled(Language.GO, Duration.ofSeconds(2));
    for (int i = 0; i < 3; i++) {
      d.taken(Language.GO);
    }
    for (int i = 0; i < 3; i++) {
      d.returned(Language.GO);
    }
    assertEquals(6, d.applyAsInt(Language.GO), "a language without a pool gets one while used");
    advance(59);
    assertEquals(6, d.applyAsInt(Language.GO));
    advance(2);
    assertEquals(0, d.applyAsInt(Language.GO), "demand faded");
  }

  @Test
  void theRefillTimeIsAMovingAverage() {
    PoolDemand d = demand(50);
    d.refilled(Language.GO, Duration.ofSeconds(1));
    d.refilled(Language.GO, Duration.ofSeconds(11));
    d.taken(Language.GO);
    assertEquals(4, d.applyAsInt(Language.GO), "0.7 x 1 + 0.3 x 11 = 4 s");
  }

  @Test
  void everythingStaysWithinTheCap() {
    PoolDemand d = demand(10);
    d.refilled(Language.GO, Duration.ofSeconds(3));
    for (int i = 0; i < 4; i++) {
      d.taken(Language.GO);
    }
    // Wants 12; the cap leaves 10 - 4 in use - 2 (py's pool) = 4.
    assertEquals(4, d.applyAsInt(Language.GO));
    // Never below the configured size, whatever the cap.
    for (int i = 0; i < 20; i++) {
      d.taken(Language.JS);
    }
    assertEquals(2, d.applyAsInt(Language.PY));
  }
}
