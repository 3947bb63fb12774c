package dev.kubecoderun.language;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
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

  @Test
  void saysOnceWhatDiffersBetweenLanguages() {
    assertEquals(
        List.of(Language.PY, Language.JS, Language.GO),
        Arrays.stream(Language.values()).filter(Language::warm).toList());
    assertEquals(
        List.of(Language.PY),
        Arrays.stream(Language.values()).filter(Language::keepsState).toList());
    assertEquals("node", Language.TS.image());
    assertEquals("c-cpp", Language.CPP.image());
    assertEquals(3, Language.PY.defaultPoolSize());
    assertEquals(2, Language.JS.defaultPoolSize());
    assertEquals(0, Language.GO.defaultPoolSize());
  }
}
