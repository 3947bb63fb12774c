package dev.kubecoderun.memory;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MemoryBudgetTest {
  private static final long MIB = 1 << 20;

  @Test
  void aHolderPastWhatOthersHoldWaitsThenIsRefused() {
    MemoryBudget budget = new MemoryBudget(4 * MIB, Duration.ofMillis(50));
    MemoryBudget.Held first = budget.hold();
    assertEquals(3 * MIB, first.reserve(3 * MIB));
    assertThrows(MemoryBudgetExhaustedException.class, () -> budget.hold().reserve(2 * MIB));
    assertEquals(MIB, budget.available(), "a refused reservation holds nothing");
  }

  @Test
  void aWaitingHolderGoesOnOnceAnotherIsDone() throws Exception {
    MemoryBudget budget = new MemoryBudget(4 * MIB, Duration.ofSeconds(30));
    MemoryBudget.Held first = budget.hold();
    first.reserve(4 * MIB);
    MemoryBudget.Held second = budget.hold();
    CompletableFuture<Long> waiting = CompletableFuture.supplyAsync(() -> second.reserve(MIB));
    first.releaseAll();
    assertEquals(MIB, waiting.get(30, TimeUnit.SECONDS));
    second.releaseAll();
    assertEquals(4 * MIB, budget.available());
  }

  @Test
  void aHolderAloneMayHoldTheWholeBudgetNeverMore() {
    MemoryBudget budget = new MemoryBudget(4 * MIB, Duration.ofMillis(50));
    MemoryBudget.Held held = budget.hold();
    assertEquals(4 * MIB, held.reserve(10 * MIB));
    assertEquals(0, held.reserve(MIB), "nothing more, and no wait for itself");
    held.giveBack(3 * MIB);
    assertEquals(3 * MIB, budget.available());
    assertEquals(MIB, held.held());
    held.releaseAll();
    assertEquals(4 * MIB, budget.available());
    assertEquals(0, budget.held());
  }

  /**
   * All or none of more than the budget less what the holder holds is refused at once, while
   * another holds some: no wait (5 minutes here) could ever grant it, and a holder waiting at the
   * head of the fair queue would keep every other request waiting behind it.
   */
  @Test
  void allOrNoneOfMoreThanTheHolderMayEverHoldIsRefusedWithoutWaiting() throws Exception {
    MemoryBudget budget = new MemoryBudget(4 * MIB, Duration.ofMinutes(5));
    MemoryBudget.Held other = budget.hold();
    other.reserve(MIB);
    MemoryBudget.Held reading = budget.hold();
    reading.reserve(MIB);
    CompletableFuture<String> outcome =
        CompletableFuture.supplyAsync(
            () -> {
              try {
                return "reserved " + reading.reserveAll(3 * MIB + 1);
              } catch (MemoryBudgetExhaustedException e) {
                return "refused";
              }
            });
    assertEquals("refused", outcome.get(30, TimeUnit.SECONDS));
    assertEquals(0, budget.waiting());
    assertEquals(MIB, reading.held(), "the refused reservation took nothing");
    assertEquals(2 * MIB, budget.available());
  }

  @Test
  void reservationsAreWholeKibibytesRoundedUpAndGivenBackRoundedDown() {
    MemoryBudget budget = new MemoryBudget(4 * MIB, Duration.ofMillis(50));
    MemoryBudget.Held held = budget.hold();
    assertEquals(1024, held.reserve(1));
    assertEquals(0, held.reserve(0));
    held.giveBack(1023);
    assertEquals(1024, budget.held(), "less than a KiB given back gives back nothing");
    held.giveBack(1024);
    assertEquals(0, budget.held());
  }

  @Test
  void aHolderThatHoldsSomeGoesAheadOfOneWaitingToStartWhenThereIsRoom() throws Exception {
    MemoryBudget budget = new MemoryBudget(4 * MIB, Duration.ofSeconds(30));
    MemoryBudget.Held running = budget.hold();
    running.reserve(3 * MIB);
    MemoryBudget.Held starting = budget.hold();
    CompletableFuture<Long> waiting =
        CompletableFuture.supplyAsync(() -> starting.reserve(2 * MIB));
    dev.kubecoderun.testing.Eventually.await(
        "the second to wait", Duration.ofSeconds(10), () -> budget.waiting() == 1);
    assertEquals(512 * 1024, running.reserve(512 * 1024), "room there is, taken at once");
    running.releaseAll();
    assertEquals(2 * MIB, waiting.get(30, TimeUnit.SECONDS));
    starting.releaseAll();
    assertEquals(0, budget.held());
  }

  @Test
  void aWaitingHolderInterruptedIsRefusedAtOnceHoldsNothingAndStaysInterrupted() throws Exception {
    MemoryBudget budget = new MemoryBudget(4 * MIB, Duration.ofMinutes(5));
    MemoryBudget.Held first = budget.hold();
    first.reserve(4 * MIB);
    CompletableFuture<String> outcome = new CompletableFuture<>();
    Thread waiter =
        Thread.ofVirtual()
            .start(
                () -> {
                  try {
                    budget.hold().reserve(MIB);
                    outcome.complete("reserved");
                  } catch (MemoryBudgetExhaustedException e) {
                    outcome.complete(
                        Thread.currentThread().isInterrupted()
                            ? "refused, interrupted"
                            : "refused");
                  }
                });
    dev.kubecoderun.testing.Eventually.await(
        "the holder to wait", Duration.ofSeconds(10), () -> budget.waiting() == 1);
    waiter.interrupt();
    assertEquals("refused, interrupted", outcome.get(30, TimeUnit.SECONDS));
    assertEquals(0, budget.waiting());
    first.releaseAll();
    assertEquals(4 * MIB, budget.available(), "the interrupted holder took nothing");
  }
}
