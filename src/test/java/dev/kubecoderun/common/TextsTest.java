package dev.kubecoderun.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class TextsTest {
  @Test
  void aTextWithinTheBoundIsItself() {
    assertEquals("abc", Texts.cut("abc", 3, "..."));
    assertNull(Texts.cut(null, 3, "..."));
  }

  @Test
  void aLongerTextIsCutAtTheBoundWithItsMarker() {
    assertEquals("ab...", Texts.cut("abcd", 2, "..."));
    assertEquals("ab", Texts.cut("abcd", 2, ""));
  }

  @Test
  void aCharacterOutsideTheBmpAtTheBoundIsLeftOutWhole() {
    // U+1F600 is two chars, a surrogate pair: the bound falls between them.
    assertEquals("a…", Texts.cut("a\uD83D\uDE00b", 2, "…"));
    assertEquals("a\uD83D\uDE00…", Texts.cut("a\uD83D\uDE00b", 3, "…"));
  }
}
