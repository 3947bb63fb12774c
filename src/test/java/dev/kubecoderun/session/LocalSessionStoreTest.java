package dev.kubecoderun.session;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kubecoderun.testing.Eventually;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalSessionStoreTest {
  @TempDir Path dataDir;

  /**
   * A run's touch rewrites its session's file (flushed) only once the file's last use is a minute
   * old: a busy session costs no flush per request, and a restart finds the last use to the minute.
   */
  @Test
  void aTouchIsWrittenOnlyOnceTheFilesLastUseIsAMinuteOld() {
    String id = Ids.next();
    Instant now = Instant.parse("2026-12-01T09:00:00Z");
    java.util.List<Instant> written = new java.util.ArrayList<>();
    LocalSessionStore store =
        new LocalSessionStore(dataDir, Clock.systemUTC(), s -> written.add(s.lastActivity()));
    store.createOrReuse(new Session(id, now, now, null, null, null), false);
    store.touch(id, now.plusSeconds(30));
    store.createOrReuse(new Session(id, now, now.plusSeconds(59), null, null, null), false);
    assertEquals(java.util.List.of(now), written, "within the minute: memory only");
    assertEquals(now.plusSeconds(59), store.find(id).orElseThrow().lastActivity());

    store.touch(id, now.plusSeconds(61));
    assertEquals(java.util.List.of(now, now.plusSeconds(61)), written);
    assertEquals(
        now.plusSeconds(61), new LocalSessionStore(dataDir).find(id).orElseThrow().lastActivity());
  }

  /**
   * A touch of a session without an owner (written before owners were recorded) and a claim of it
   * race: the claim comes in while the touch is about to write its copy. The session that reaches
   * the disk is the claimed one, so after a restart it is still its claimer's, not anyone's to
   * claim (with its files and state).
   */
  @Test
  void aClaimThatRacesATouchIsWhatARestartFinds() throws Exception {
    String id = Ids.next();
    Instant now = Instant.now();
    AtomicBoolean touching = new AtomicBoolean(false);
    Thread[] claimer = new Thread[1];
    LocalSessionStore[] store = new LocalSessionStore[1];
    store[0] =
        new LocalSessionStore(
            dataDir,
            Clock.systemUTC(),
            s -> {
              if (!touching.compareAndSet(true, false)) {
                return;
              }
              // The touch is about to write its (ownerless) copy: the claim runs now, as far as
              // it can get, until it ends or waits for the touch.
              claimer[0] = Thread.ofPlatform().start(() -> store[0].claim(id, "key-a", "tenant-a"));
              try {
                Eventually.await(
                    "the claim to end or wait",
                    Duration.ofSeconds(10),
                    () ->
                        claimer[0].getState() == Thread.State.TERMINATED
                            || claimer[0].getState() == Thread.State.BLOCKED
                            || claimer[0].getState() == Thread.State.WAITING);
              } catch (InterruptedException e) {
                throw new IllegalStateException(e);
              }
            });
    store[0].createOrReuse(new Session(id, now, now, null, null, null), false);

    touching.set(true);
    // Late enough for the touch to be written (a file's last use is rewritten once a minute).
    store[0].touch(id, now.plus(LocalSessionStore.TOUCH_WRITTEN_EVERY).plusSeconds(1));
    claimer[0].join();

    assertEquals("key-a", store[0].find(id).orElseThrow().owner());
    LocalSessionStore restarted = new LocalSessionStore(dataDir);
    assertEquals("key-a", restarted.find(id).orElseThrow().owner(), "after a restart");
  }
}
