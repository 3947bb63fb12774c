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

  @Test
  void notesTruncation() {
    assertEquals(
        "abc\n[output truncated: more than 3 bytes]", OutputText.clean("abc", true, 3, false));
  }
}
