package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
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

  /**
   * STATE_MAX_SIZE_MB past the runner's 64 MiB, with a budget that affords it: runs keep 64 MiB
   * (the runner sends no larger state), and the warning says the runner is why, not the budget.
   */
  @Test
  void aStateMaxPastTheRunnersBoundIsWarnedOfAsTheRunnersNotTheBudgets() {
    long configured = 100 * MIB;
    assertEquals(
        64 * MIB, ExecutionService.maxStateBytes(4096 * MIB, OUTPUTS, configured), "runs keep");
    String warning = ExecutionService.stateBudgetWarning(4096 * MIB, OUTPUTS, configured);
    assertNotNull(warning, "a budget that affords 100 MiB states still keeps none over 64 MiB");
    assertTrue(
        warning.startsWith(
            "STATE_MAX_SIZE_MB (100.0 MiB) is more than the runner keeps (64.0 MiB): a run whose"
                + " state is larger is answered without keeping it"),
        warning);
    assertFalse(warning.contains("budget"), warning);
  }

  /** A budget too small for the runner's 64 MiB advises the budget that keeps up to that. */
  @Test
  void aBudgetBelowTheRunnersBoundAdvisesWhatKeepsUpToIt() {
    String warning = ExecutionService.stateBudgetWarning(384 * MIB, OUTPUTS, 100 * MIB);
    Matcher m =
        Pattern.compile("a budget of (\\d+) MiB keeps them all up to the runner's 64.0 MiB$")
            .matcher(warning);
    assertTrue(m.find(), warning);
    long advised = Long.parseLong(m.group(1)) * MIB;
    assertEquals(64 * MIB, ExecutionService.maxStateBytes(advised, OUTPUTS, 100 * MIB));
  }

  @Test
  void aBudgetThatKeepsThemAllSaysNothing() {
    assertNull(ExecutionService.stateBudgetWarning(1024 * MIB, OUTPUTS, STATE_MAX));
  }
}
