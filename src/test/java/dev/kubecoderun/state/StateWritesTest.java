package dev.kubecoderun.state;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.memory.Room;
import dev.kubecoderun.session.LocalSessionLocks;
import dev.kubecoderun.session.SessionNotFoundException;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A state write waits for the session's lock; by then the session may no longer be the writer's
 * (expired, emptied and made anew by another principal): nothing is written then.
 */
class StateWritesTest {
  private static final byte[] STATE = {2, 1, 2, 3};

  @TempDir Path data;

  private StateWrites writes(StateStore states) {
    return new StateWrites(states, new LocalSessionLocks(), Duration.ofSeconds(5));
  }

  @Test
  void anUploadToASessionNoLongerTheWritersWritesNothing() throws Exception {
    StateStore states = new LocalStateStore(data, Duration.ofHours(1), Clock.systemUTC());
    assertThrows(
        SessionNotFoundException.class,
        () -> writes(states).upload("sess1", STATE, Room.NONE, () -> false));
    assertTrue(states.load("sess1").isEmpty());

    writes(states).upload("sess1", STATE, Room.NONE, () -> true);
    assertArrayEquals(STATE, states.load("sess1").orElseThrow().bytes());
  }

  @Test
  void aDeleteOfASessionNoLongerTheDeletersDeletesNothing() throws Exception {
    StateStore states = new LocalStateStore(data, Duration.ofHours(1), Clock.systemUTC());
    states.save("sess1", STATE);
    writes(states).delete("sess1", () -> false);
    assertArrayEquals(STATE, states.load("sess1").orElseThrow().bytes());

    writes(states).delete("sess1", () -> true);
    assertTrue(states.load("sess1").isEmpty());
  }
}
