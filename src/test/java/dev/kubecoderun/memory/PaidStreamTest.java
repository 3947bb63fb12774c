package dev.kubecoderun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class PaidStreamTest {
  private static final int MIB = 1 << 20;

  private static InputStream bytes(int n) {
    return new ByteArrayInputStream(new byte[n]);
  }

  @Test
  void whatPassesIsPaidForBeforeItIsReadUpToTheBound() throws IOException {
    MemoryBudget budget = new MemoryBudget(64 * MIB, Duration.ofMillis(50));
    MemoryBudget.Held held = budget.hold();
    PaidStream in = new PaidStream(bytes(20 * MIB), held, 8 * MIB);
    byte[] buf = new byte[64 * 1024];
    long read = 0;
    for (int n = in.read(buf); n > 0; n = in.read(buf)) {
      read += n;
      assertTrue(held.held() >= Math.min(read, 8 * MIB), read + " read, " + held.held() + " held");
      assertTrue(held.held() <= 8 * MIB, "never more than the bound: " + held.held());
    }
    assertEquals(20 * MIB, read);
    assertEquals(8 * MIB, in.held());
    in.giveBackAll();
    assertEquals(0, budget.held());
  }

  @Test
  void aShortStreamCostsAStepNotTheBound() throws IOException {
    MemoryBudget budget = new MemoryBudget(64 * MIB, Duration.ofMillis(50));
    PaidStream in = new PaidStream(bytes(1000), budget.hold(), 8 * MIB);
    assertEquals(1000, in.readAllBytes().length);
    assertTrue(budget.held() <= PaidStream.STEP + 1024, "held " + budget.held());
    in.giveBackAll();
    assertEquals(0, budget.held());
  }

  @Test
  void noRoomStopsTheReadAndIsKeptForTheReaderToRethrow() {
    MemoryBudget budget = new MemoryBudget(4 * MIB, Duration.ofMillis(50));
    budget.hold().reserve(4 * MIB);
    PaidStream in = new PaidStream(bytes(MIB), budget.hold(), 8 * MIB);
    MemoryBudgetExhaustedException e =
        assertThrows(MemoryBudgetExhaustedException.class, () -> in.read(new byte[1024]));
    assertSame(e, in.failure());
    assertEquals(0, in.held());
  }
}
