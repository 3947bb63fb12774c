package dev.kubecoderun.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class OutputNameTest {
  @Test
  void ordinaryNamesAreKeptAsTheyAre() {
    for (String n :
        new String[] {
          "a b.txt",
          "r\u00e9sum\u00e9.csv",
          "\u6570\u636e.csv",
          "a+b&c#d?e%20f'g\"h;i=j{k}.txt",
          "dir with space/sub/x.png",
          "bad\ufffd.txt",
          "\ud83d\ude00 emoji.txt"
        }) {
      assertSame(n, OutputName.of(n));
    }
  }

  @Test
  void whatAClientWouldShowOrSendBackWronglyBecomesAnUnderscore() {
    assertEquals("new_line_tab_.txt", OutputName.of("new\nline\ttab\r.txt"));
    assertEquals("nul_del_c1_.txt", OutputName.of("nul\u0000del\u007fc1\u0085.txt"));
    assertEquals("back_slash", OutputName.of("back\\slash"));
    assertEquals("_fdp.exe", OutputName.of("\u202efdp.exe"));
    assertEquals("a_b_c_d_e", OutputName.of("a\u2028b\u2029c\u2066d\u200fe"));
  }

  /** A name is usable when /exec takes it back as an input name; otherwise it says why not. */
  @Test
  void aNameOverTheLimitsOfInputNamesIsUnusable() {
    assertNull(OutputName.whyUnusable("n".repeat(255)));
    assertNull(OutputName.whyUnusable("a/".repeat(31) + "f"));
    assertNull(OutputName.whyUnusable(("d".repeat(99) + "/").repeat(10) + "f".repeat(24)));
    // 255 bytes that are not UTF-8 come from the runner as 255 U+FFFD: 765 bytes of text.
    assertTrue(OutputName.whyUnusable("\ufffd".repeat(255)).contains("over 255 bytes"));
    assertTrue(OutputName.whyUnusable("a/".repeat(32) + "f").contains("more than 32 levels"));
    assertTrue(
        OutputName.whyUnusable(("d".repeat(99) + "/").repeat(10) + "f".repeat(25))
            .contains("over 1024 bytes"));
    assertTrue(OutputName.whyUnusable("../x").contains("not a clean relative path"));
  }
}
