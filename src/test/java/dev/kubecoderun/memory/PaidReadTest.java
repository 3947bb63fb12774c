package dev.kubecoderun.memory;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.Random;
import org.junit.jupiter.api.Test;

class PaidReadTest {
  private static final int MIB = 1 << 20;

  private static byte[] bytes(int n) {
    byte[] b = new byte[n];
    new Random(n).nextBytes(b);
    return b;
  }

  /** Counts the bytes read from it, to see where reading stopped. */
  private static final class Counting extends ByteArrayInputStream {
    Counting(byte[] b) {
      super(b);
    }

    int consumed() {
      return pos;
    }
  }

  @Test
  void aShortStreamCostsAFewKibibytes() throws IOException {
    MemoryBudget budget = new MemoryBudget(64 * MIB, Duration.ofMillis(50));
    MemoryBudget.Held held = budget.hold();
    byte[] b = bytes(300);
    PaidRead r = PaidRead.of(new ByteArrayInputStream(b), 10 * MIB, held, 4);
    assertEquals(300, r.length());
    assertArrayEquals(b, r.stream().readAllBytes());
    assertTrue(held.held() <= 4096, "held " + held.held());
  }

  @Test
  void whatIsHeldFollowsWhatArrivedNotTheMostThatMight() throws IOException {
    MemoryBudget budget = new MemoryBudget(256 * MIB, Duration.ofMillis(50));
    MemoryBudget.Held held = budget.hold();
    byte[] b = bytes(3 * MIB + 123);
    PaidRead r = PaidRead.of(new ByteArrayInputStream(b), 200 * MIB, held, 4);
    assertEquals(b.length, r.length());
    assertArrayEquals(b, r.stream().readAllBytes());
    assertArrayEquals(java.util.Arrays.copyOf(b, 100), r.prefix(100));
    // 4 bytes held a byte read, give or take a KiB a piece of rounding.
    assertTrue(held.held() >= 4L * b.length, "held " + held.held());
    assertTrue(held.held() <= 4L * b.length + 64 * 1024, "held " + held.held());
  }

  @Test
  void aStreamPastItsLimitIsReadOneByteFurtherOnly() throws IOException {
    Counting in = new Counting(bytes(5 * MIB));
    PaidRead r = PaidRead.of(in, 2 * MIB, Room.NONE, 4);
    assertEquals(2 * MIB + 1, r.length());
    assertEquals(2 * MIB + 1, in.consumed());
  }

  @Test
  void noRoomStopsTheReadBeforeThePieceItWouldHaveCost() {
    MemoryBudget budget = new MemoryBudget(8 * MIB, Duration.ofMillis(50));
    MemoryBudget.Held other = budget.hold();
    other.reserve(6 * MIB);
    MemoryBudget.Held held = budget.hold();
    Counting in = new Counting(bytes(4 * MIB));
    assertThrows(MemoryBudgetExhaustedException.class, () -> PaidRead.of(in, 100 * MIB, held, 4));
    // 2 MiB of room at 4 a byte: at most half a MiB was read, none of it past what was paid for.
    assertTrue(in.consumed() <= MIB / 2, "read " + in.consumed());
    assertTrue(4L * in.consumed() <= held.held(), "read " + in.consumed() + " held " + held.held());
    held.releaseAll();
    other.releaseAll();
    assertEquals(0, budget.held());
  }

  /**
   * A holder may hold its budget whole, never more: a stream that would cost more is not read past
   * what was paid for, and the read fails rather than going on unpaid.
   */
  @Test
  void aStreamCostingMoreThanTheWholeBudgetIsNotReadPastIt() {
    MemoryBudget budget = new MemoryBudget(MIB, Duration.ofMillis(50));
    MemoryBudget.Held held = budget.hold();
    Counting in = new Counting(bytes(2 * MIB));
    assertThrows(MemoryBudgetExhaustedException.class, () -> PaidRead.of(in, 10 * MIB, held, 1));
    assertTrue(in.consumed() <= held.held(), "read " + in.consumed() + " held " + held.held());
    assertTrue(held.held() <= MIB, "held " + held.held());
  }

  @Test
  void aCountedRoomGivesBackAllItTookAtOnce() throws IOException {
    MemoryBudget budget = new MemoryBudget(64 * MIB, Duration.ofMillis(50));
    MemoryBudget.Held held = budget.hold();
    held.reserve(MIB);
    Room.Counted call = new Room.Counted(held);
    InputStream in = new ByteArrayInputStream(bytes(2 * MIB));
    PaidRead.of(in, 10 * MIB, call, 4);
    assertTrue(held.held() > 8 * MIB);
    call.giveBackAll();
    assertEquals(MIB, held.held(), "what the holder had before stays held");
  }
}
