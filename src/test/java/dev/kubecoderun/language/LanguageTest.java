package dev.kubecoderun.language;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LanguageTest {
  @Test
  void acceptsCodesAndAliasesCaseInsensitively() {
    assertEquals(Language.PY, Language.parse("PY").orElseThrow());
    assertEquals(Language.PY, Language.parse("python").orElseThrow());
    assertEquals(Language.TS, Language.parse("TypeScript").orElseThrow());
    assertEquals(Language.RS, Language.parse("rust").orElseThrow());
    assertEquals(Language.GO, Language.parse("golang").orElseThrow());
    assertEquals(Language.F90, Language.parse("fortran").orElseThrow());
    assertEquals(Language.BASH, Language.parse("sh").orElseThrow());
    assertTrue(Language.parse("cobol").isEmpty());
    assertEquals(13, Language.values().length);
  }
}
