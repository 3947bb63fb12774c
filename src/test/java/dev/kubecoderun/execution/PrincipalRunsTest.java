package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.kubecoderun.auth.Principal;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Who is capped, and that a place given back twice frees one place, not two. */
class PrincipalRunsTest {
  private static final Principal USER = Principal.jwt("acme", "u1");
  private static final Principal ENV_KEY = Principal.apiKey("env-key-0123456789");
  private static final Principal MANAGED_KEY = Principal.apiKey("sk-managed-0123456789");

  @Test
  void aUserHasAtMostItsPlacesAndOneGivenBackTwiceFreesOne() {
    PrincipalRuns runs = new PrincipalRuns(2, 0, Set.of());
    PrincipalRuns.Place first = runs.enter(USER);
    runs.enter(USER);
    assertThrows(TooManyRunsException.class, () -> runs.enter(USER));
    runs.enter(Principal.jwt("acme", "u2")).close(); // another user of the tenant has its own
    first.close();
    first.close();
    runs.enter(USER);
    assertThrows(TooManyRunsException.class, () -> runs.enter(USER));
  }

  @Test
  void envKeysAndTheAnonymousPrincipalAreNeverCappedManagedKeysWhenSet() {
    PrincipalRuns runs = new PrincipalRuns(1, 1, Set.of(ENV_KEY.user()));
    for (int i = 0; i < 5; i++) {
      runs.enter(ENV_KEY);
      runs.enter(Principal.ANONYMOUS);
    }
    runs.enter(MANAGED_KEY);
    assertThrows(TooManyRunsException.class, () -> runs.enter(MANAGED_KEY));
    PrincipalRuns unset = new PrincipalRuns(1, 0, Set.of(ENV_KEY.user()));
    unset.enter(MANAGED_KEY);
    unset.enter(MANAGED_KEY);
  }
}
