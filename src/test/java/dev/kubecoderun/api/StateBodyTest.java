package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.memory.MemoryBudget;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.time.Duration;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The body of POST /state is read once, into the array it is stored as, and what it holds is paid
 * for by the memory budget: never twice its size for an announced body (LibreChat and most clients
 * send a Content-Length), nothing for a body over the limit.
 */
class StateBodyTest {
  private static final int MIB = 1 << 20;
  private static final long MAX = 8 * MIB;

  private final MemoryBudget.Held held = new MemoryBudget(64 * MIB, Duration.ofMillis(50)).hold();

  private static byte[] state(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    b[0] = 2;
    return b;
  }

  /** A body that notes every array it is read into, and how much the request held at each read. */
  private final class Body extends ByteArrayInputStream {
    final Set<byte[]> readInto = Collections.newSetFromMap(new IdentityHashMap<>());
    long heldAtMost;

    Body(byte[] b) {
      super(b);
    }

    @Override
    public synchronized int read(byte[] b, int off, int len) {
      readInto.add(b);
      heldAtMost = Math.max(heldAtMost, held.held());
      return super.read(b, off, len);
    }
  }

  @Test
  void anAnnouncedStateIsReadStraightIntoTheArrayItIsStoredAs() throws IOException {
    byte[] sent = state(3 * MIB);
    Body body = new Body(sent);
    byte[] stored = StateEndpoint.read(body, sent.length, MAX, held);
    assertArrayEquals(sent, stored);
    assertTrue(
        body.readInto.size() == 1 && body.readInto.contains(stored),
        "read into " + body.readInto.size() + " arrays, not only the one returned");
    assertEquals(sent.length, held.held(), "the request keeps what the state's array costs");
  }

  @Test
  void aChunkedStateIsPaidForAsItArrivesAndWhileItIsCopied() throws IOException {
    byte[] sent = state(3 * MIB);
    byte[] stored = StateEndpoint.read(new Body(sent), -1, MAX, held);
    assertArrayEquals(sent, stored);
    assertEquals(sent.length, held.held(), "the pieces are given back once copied");
  }

  @Test
  void aStateOverTheLimitIs413AndHoldsNothing() throws IOException {
    for (long announced : new long[] {MAX + 1, -1}) {
      Body body = new Body(state((int) MAX + 1));
      ApiError e =
          assertThrows(ApiError.class, () -> StateEndpoint.read(body, announced, MAX, held));
      assertEquals(413, e.status());
      assertEquals(0, held.held(), "announced " + announced);
      assertTrue(body.heldAtMost <= MAX + 64 * 1024, "held " + body.heldAtMost);
    }
  }

  @Test
  void aStateAtTheLimitIsRead() throws IOException {
    byte[] sent = state((int) MAX);
    assertArrayEquals(sent, StateEndpoint.read(new Body(sent), MAX, MAX, held));
    assertEquals(MAX, held.held());
  }
}
