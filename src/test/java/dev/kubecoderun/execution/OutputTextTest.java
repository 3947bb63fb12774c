package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class OutputTextTest {
  @Test
  void endsNonEmptyStdoutWithANewline() {
    assertEquals("1\n", OutputText.clean("1", false, 10, true));
    assertEquals("", OutputText.clean("", false, 10, true));
    assertEquals("  indented\n", OutputText.clean("  indented\n", false, 100, true));
  }

  @Test
  void dropsControlCharactersButKeepsTabsAndNewlines() {
    assertEquals("a\tb\r\nc", OutputText.clean("a\tb\r\n\u0000c\u0007", false, 10, false));
  }

  /** The runner's notices come after its capped output: a flooded stderr still says why. */
  @Test
  void keepsTheRunnersNoticesAfterACappedOutput() {
    String flood = "x".repeat(1000);
    String notice = "\n[kubecoderun] killed: the sandbox memory limit (512 MiB) was exceeded";
    String out = OutputText.clean(flood + notice, true, 1000, false);
    assertEquals(
        flood + notice + "\n[output truncated: more than 1000 bytes]", out, "the notice is kept");
  }

  /** More than that is not the runner's: cut, and said so. */
  @Test
  void cutsWhatNoRunnerOfOursSends() {
    String out =
        OutputText.clean("y".repeat(1000 + OutputText.NOTICE_ROOM + 10), false, 1000, false);
    assertEquals(
        "y".repeat(1000 + OutputText.NOTICE_ROOM) + "\n[output truncated: more than 1000 bytes]",
        out);
  }

  @Test
  void notesTruncation() {
    assertEquals(
        "abc\n[output truncated: more than 3 bytes]", OutputText.clean("abc", true, 3, false));
  }
}
