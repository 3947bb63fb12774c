package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.LinkedHashSet;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The inputs of one run: no name may be a folder of another's. */
class InputNamesTest {
  private static void check(String... names) {
    ExecutionService.checkNoneInside(new LinkedHashSet<>(List.of(names)));
  }

  @Test
  void namesThatOnlyShareABeginningAreFine() {
    check("a", "ab", "a.b/c", "b/a", "x/y/z", "x/y2");
  }

  @Test
  void aNameThatIsAFolderOfAnotherIsRefusedInEitherOrder() {
    ConflictingInputsException e =
        assertThrows(ConflictingInputsException.class, () -> check("a", "a/b"));
    assertEquals("a", e.file());
    assertEquals("a/b", e.nested());
    e = assertThrows(ConflictingInputsException.class, () -> check("s/S/x.py", "s/S", "z"));
    assertEquals("s/S", e.file());
    assertEquals("s/S/x.py", e.nested());
    e = assertThrows(ConflictingInputsException.class, () -> check("q", "a/b/c/d", "a/b"));
    assertEquals("a/b", e.file());
  }
}
