package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** What the start-up warning says of a memory budget that keeps smaller Python states. */
class StateBudgetWarningTest {
  private static final long MIB = 1 << 20;
  private static final long STATE_MAX = 50 * MIB; // STATE_MAX_SIZE_MB's default
  private static final long OUTPUTS = 12 * MIB + MIB; // MAX_OUTPUT_SIZE 1 MiB, at its worst

  @Test
  void theBudgetItAdvisesKeepsTheStatesWhole() {
    for (long budget = 64 * MIB; budget < 1024 * MIB; budget += 37 * MIB) {
      String warning = ExecutionService.stateBudgetWarning(budget, OUTPUTS, STATE_MAX);
      if (warning == null) {
        continue;
      }
      Matcher m = Pattern.compile("a budget of (\\d+) MiB keeps them all").matcher(warning);
      assertTrue(m.find(), warning);
      long advised = Long.parseLong(m.group(1)) * MIB;
      assertNull(
          ExecutionService.stateBudgetWarning(advised, OUTPUTS, STATE_MAX),
          "following the advice still warns: " + warning);
    }
  }

  @Test
  void aBudgetTheOutputsTakeSaysVariablesAreInEffectNotKept() {
    // MAX_OUTPUT_SIZE 8 MiB: at its worst an answer's outputs cost 388 MiB, past a 384 MiB budget.
    String warning = ExecutionService.stateBudgetWarning(384 * MIB, 12 * 8 * MIB + MIB, STATE_MAX);
    assertTrue(warning.contains("variables are in effect NOT kept between runs"), warning);
  }

  @Test
  void aBudgetThatKeepsThemAllSaysNothing() {
    assertNull(ExecutionService.stateBudgetWarning(1024 * MIB, OUTPUTS, STATE_MAX));
  }
}
