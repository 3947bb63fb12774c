package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.state.StateHash;
import dev.kubecoderun.state.StateStore;
import dev.kubecoderun.state.StoredState;
import dev.kubecoderun.testing.Eventually;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** What every StateStore does; run against the local disk store and against Redis. */
abstract class StateStoreContract {
  /** A store whose states live for {@code ttl}. */
  abstract StateStore store(Duration ttl);

  static final byte[] STATE = {2, 4, 34, 77, 24, 0, 1, 2, 3};

  @Test
  void savedStateLoadsWithItsHashAndExpiry() {
    StateStore store = store(Duration.ofHours(2));
    String sid = Ids.next();
    Instant before = Instant.now();
    store.save(sid, STATE);
    StoredState s = store.load(sid).orElseThrow();
    assertArrayEquals(STATE, s.bytes());
    assertEquals(StateHash.of(STATE), s.hash());
    assertTrue(s.expiresAt().isAfter(before.plus(Duration.ofMinutes(119))), s.toString());
    assertTrue(store.load(Ids.next()).isEmpty());
  }

  @Test
  void aNewerStateReplacesTheOlderAndAnUploadLoadsLikeARun() {
    StateStore store = store(Duration.ofHours(2));
    String sid = Ids.next();
    store.save(sid, STATE);
    byte[] newer = {2, 9, 9};
    store.saveUpload(sid, newer);
    assertArrayEquals(newer, store.load(sid).orElseThrow().bytes());
    assertEquals(StateHash.of(newer), store.load(sid).orElseThrow().hash());
  }

  /**
   * A load asks for room for what it buffers once it knows the size, before the bytes are read; a
   * missing state asks for none; no room ends the load, the state stays.
   */
  @Test
  void aLoadAsksForRoomForTheStateBeforeReadingItAndNoRoomLeavesItStored() {
    StateStore store = store(Duration.ofHours(2));
    String sid = Ids.next();
    byte[] big = new byte[300_000];
    new java.util.Random(3).nextBytes(big);
    big[0] = 2;
    store.save(sid, big);
    long[] asked = {0};
    Room counting =
        bytes -> {
          asked[0] += bytes;
          return bytes;
        };
    assertTrue(store.load(Ids.next(), counting).isEmpty());
    assertEquals(0, asked[0], "no state, no room asked");
    assertArrayEquals(big, store.load(sid, counting).orElseThrow().bytes());
    assertTrue(asked[0] >= big.length, "asked " + asked[0]);
    Room none =
        bytes -> {
          throw new MemoryBudgetExhaustedException();
        };
    assertThrows(MemoryBudgetExhaustedException.class, () -> store.load(sid, none));
    assertArrayEquals(big, store.load(sid).orElseThrow().bytes());
  }

  @Test
  void aSessionThatNeverSavedStateLoadsNone() {
    assertTrue(store(Duration.ofHours(2)).load(Ids.next()).isEmpty());
  }

  @Test
  void deletedStateIsGone() {
    StateStore store = store(Duration.ofHours(2));
    String sid = Ids.next();
    store.save(sid, STATE);
    store.delete(sid);
    assertTrue(store.load(sid).isEmpty());
    store.delete(sid);
  }

  @Test
  void stateExpiresAfterItsTtl() throws InterruptedException {
    StateStore store = store(Duration.ofSeconds(1));
    String sid = Ids.next();
    store.save(sid, STATE);
    assertTrue(store.load(sid).isPresent());
    // Redis keeps the time itself, in whole seconds: the shortest TTL, and a look until it is gone.
    Eventually.await(
        "the state's 1 s TTL to run out", Duration.ofSeconds(30), () -> store.load(sid).isEmpty());
  }
}
