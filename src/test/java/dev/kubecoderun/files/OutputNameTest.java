package dev.kubecoderun.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

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
}
