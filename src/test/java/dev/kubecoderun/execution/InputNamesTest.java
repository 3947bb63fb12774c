package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.time.Duration;
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

  /**
   * Each name is compared with one other, not each of its folders looked up: for a name 300,000
   * levels deep (a stored name need not have come through /exec's limits) that copied and hashed 90
   * GB, seconds to hours as the name grows.
   */
  @Test
  void deepNamesAreCheckedInTimeProportionalToTheirLength() {
    String deep = "a/".repeat(300_000) + "f";
    assertTimeoutPreemptively(Duration.ofSeconds(2), () -> check(deep, "a/b", "b"));
    String folder = "a/".repeat(299_999) + "a";
    ConflictingInputsException e =
        assertTimeoutPreemptively(
            Duration.ofSeconds(2),
            () -> assertThrows(ConflictingInputsException.class, () -> check(deep, folder)));
    assertEquals(folder, e.file());
    assertEquals(deep, e.nested());
  }
}
