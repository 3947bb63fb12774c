package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.StoredFile;
import dev.kubecoderun.session.ExpiredSessions;
import dev.kubecoderun.session.Ids;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionCleaner;
import dev.kubecoderun.session.SessionLocks;
import dev.kubecoderun.session.SessionNotFoundException;
import dev.kubecoderun.session.SessionResolver;
import dev.kubecoderun.session.SessionStore;
import dev.kubecoderun.state.StateStore;
import dev.kubecoderun.testing.MovingClock;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A session that expires loses its state and files before its id can be used again, and the
 * clean-up never touches a session re-created in its place; run against both kinds of stores.
 */
abstract class SessionExpiryContract {
  static final Principal OWNER = Principal.apiKey("expiry-test-owner-key-0123456");
  static final Principal OTHER = Principal.apiKey("expiry-test-other-key-0123456");
  static final byte[] STATE = {2, 7, 7, 7};

  abstract SessionStore sessions();

  abstract FileMetadataStore metadata();

  abstract ObjectStore objects();

  abstract StateStore states();

  abstract SessionLocks locks();

  /** Where state is archived: archives the session's state, which must go with it too. */
  void archive(String sid) {}

  private final Instant now = Instant.now().truncatedTo(ChronoUnit.MICROS);
  // Sessions live one hour: one created three hours ago has expired.
  final MovingClock clock = new MovingClock(now.minus(Duration.ofHours(3)));

  FileService files() {
    return new FileService(metadata(), objects(), clock, (p, sid) -> false);
  }

  ExpiredSessions expired(SessionStore sessions) {
    return new ExpiredSessions(sessions, files(), states(), locks());
  }

  SessionResolver resolver() {
    return new SessionResolver(
        sessions(), clock, Duration.ofHours(1), expired(sessions()), Duration.ofSeconds(5));
  }

  StoredFile upload(Principal owner, String sid, String name) throws IOException {
    return files()
        .upload(
            owner,
            StoredFile.Sharing.USER,
            sid,
            name,
            "text/plain",
            new ByteArrayInputStream(new byte[] {1, 2}),
            10,
            dev.kubecoderun.memory.Room.NONE,
            false);
  }

  /** A session of OWNER, with state and a file, that expired two hours ago. */
  String expiredSessionWithStateAndFile() throws Exception {
    String sid = Ids.next();
    resolver().createOwned(OWNER, sid);
    states().save(sid, STATE);
    archive(sid);
    upload(OWNER, sid, "secret.txt");
    clock.set(now);
    assertTrue(sessions().find(sid).isEmpty(), "expired");
    return sid;
  }

  void assertEmpty(String sid) throws IOException {
    assertTrue(states().load(sid).isEmpty(), "no state of the expired session");
    assertTrue(files().listAnyOwner(sid).isEmpty(), "no file of the expired session");
    assertTrue(objects().list("sessions/" + sid + "/", null, 10).isEmpty(), "nor its objects");
  }

  @Test
  void anExpiredSessionNamedByAnotherPrincipalStartsWithoutTheFormerOwnersStateOrFiles()
      throws Exception {
    String sid = expiredSessionWithStateAndFile();

    Session taken = resolver().createOwned(OTHER, sid);

    assertEquals(OTHER.user(), taken.owner());
    assertEquals(now, taken.createdAt());
    assertEmpty(sid);
  }

  /**
   * A run that names another principal's live session goes on as if it named none (here: in the
   * session of its first referenced file that is its own), and the other's session is left as it
   * was; an upload naming it is told it does not exist.
   */
  @Test
  void aLiveSessionNamedByAnotherPrincipalIsNeverUsedByIt() throws Exception {
    clock.set(now);
    String sid = Ids.next();
    resolver().createOwned(OWNER, sid);
    states().save(sid, STATE);
    upload(OWNER, sid, "secret.txt");
    String mine = resolver().createOwned(OTHER, Ids.next()).id();
    clock.set(now.plusSeconds(60));

    Session run =
        resolver()
            .resolve(OTHER, sid, List.of(sid, mine), null, null, SessionResolver.Another.FALL_BACK);
    Session fresh =
        resolver().resolve(OTHER, sid, List.of(), null, null, SessionResolver.Another.FALL_BACK);

    assertEquals(mine, run.id(), "the first referenced session that is its own");
    assertNotEquals(sid, fresh.id(), "else a new one");
    assertEquals(OTHER.user(), fresh.owner());
    assertThrows(
        SessionNotFoundException.class,
        () ->
            resolver()
                .resolve(OTHER, sid, List.of(), null, null, SessionResolver.Another.NOT_FOUND));
    Session owners = sessions().find(sid).orElseThrow();
    assertEquals(OWNER.user(), owners.owner(), "still the owner's");
    assertEquals(now, owners.createdAt(), "not made anew");
    // Not touched either: the owner's entity lookups pick its most recently active session.
    assertEquals(now, owners.lastActivity(), "not touched by the other's requests");
    assertTrue(states().load(sid).isPresent(), "with its state");
    assertEquals(1, files().listAnyOwner(sid).size(), "and its file");
  }

  /** A run naming an expired session of another principal's takes it over, emptied. */
  @Test
  void anExpiredSessionNamedForARunByAnotherPrincipalIsTakenOverEmpty() throws Exception {
    String sid = expiredSessionWithStateAndFile();

    Session taken =
        resolver().resolve(OTHER, sid, List.of(), null, null, SessionResolver.Another.FALL_BACK);

    assertEquals(sid, taken.id());
    assertEquals(OTHER.user(), taken.owner());
    assertEmpty(sid);
  }

  /**
   * Whether a session expired is read on the service's clock, the one that dates its sessions, not
   * on the machine's: a session expired for the one is never live for the other, so its id is
   * emptied and used again, not refused.
   */
  @Test
  void aSessionExpiredOnTheServicesClockIsEmptiedAndMadeAnew() throws Exception {
    String sid = Ids.next();
    clock.set(now);
    resolver().createOwned(OWNER, sid);
    states().save(sid, STATE);
    clock.set(now.plus(Duration.ofDays(1)));

    Session again = resolver().createOwned(OWNER, sid);

    assertEquals(now.plus(Duration.ofDays(1)), again.createdAt());
    assertTrue(states().load(sid).isEmpty(), "no state of the expired session");
  }

  /**
   * A run resolved its session, then waited for the session's lock while the session expired and
   * another principal made it anew: that is no longer its session.
   */
  @Test
  void aSessionResolvedBeforeItExpiredIsNotTheOneMadeAnewUnderItsId() throws Exception {
    String sid = Ids.next();
    Session resolved = resolver().createOwned(OWNER, sid);
    clock.set(now);

    Session taken = resolver().createOwned(OTHER, sid);

    assertFalse(resolver().isStill(resolved), "the owner's session is gone");
    assertTrue(resolver().isStill(taken), "the live one is still itself");
  }

  @Test
  void anExpiredSessionNamedByItsOwnerAgainStartsEmptyToo() throws Exception {
    String sid = expiredSessionWithStateAndFile();

    resolver().createOwned(OWNER, sid);

    assertEmpty(sid);
  }

  @Test
  void theCleanUpEmptiesAnExpiredSessionAndForgetsIt() throws Exception {
    String sid = expiredSessionWithStateAndFile();
    SessionCleaner cleaner = new SessionCleaner(sessions(), expired(sessions()));

    // Each cycle looks at one page of ids: cycles until it came to this one.
    for (int cycle = 0; cycle < 1000 && sessions().hasExpired(sid); cycle++) {
      cleaner.runOnce();
    }

    assertFalse(sessions().hasExpired(sid), "forgotten");
    assertEmpty(sid);
    resolver().createOwned(OWNER, sid);
    assertEmpty(sid);
  }

  /**
   * The clean-up finds the session expired; before it goes on, the owner's next request re-creates
   * it and stores a file. The clean-up must leave the new session and its file alone.
   */
  @Test
  void theCleanUpNeverDeletesASessionReCreatedAfterItFoundItExpired() throws Exception {
    String sid = expiredSessionWithStateAndFile();
    StoredFile[] reCreated = new StoredFile[1];
    SessionStore racing =
        hooked(
            sessions(),
            "find",
            sid,
            () -> {
              if (reCreated[0] == null) {
                resolver().createOwned(OWNER, sid);
                reCreated[0] = upload(OWNER, sid, "new.txt");
              }
            });
    SessionCleaner cleaner = new SessionCleaner(racing, expired(racing));

    for (int cycle = 0; cycle < 1000 && reCreated[0] == null; cycle++) {
      cleaner.runOnce();
    }

    assertTrue(reCreated[0] != null, "the clean-up came to the session");
    assertEquals(OWNER.user(), sessions().find(sid).orElseThrow().owner(), "still there");
    assertTrue(files().findAnyOwner(sid, reCreated[0].id()).isPresent(), "its file too");
    assertTrue(objects().open(reCreated[0].objectKey()).isPresent(), "with its bytes");
    assertEquals(1, files().listAnyOwner(sid).size(), "and only its own file");
    assertTrue(states().load(sid).isEmpty(), "without the expired session's state");
  }

  interface Step {
    void run() throws Exception;
  }

  /**
   * The store, running {@code step} after each call of {@code method} for {@code sid}, before its
   * answer (now perhaps out of date) is returned.
   */
  static SessionStore hooked(SessionStore store, String method, String sid, Step step) {
    return (SessionStore)
        Proxy.newProxyInstance(
            SessionStore.class.getClassLoader(),
            new Class<?>[] {SessionStore.class},
            (proxy, m, args) -> {
              Object result;
              try {
                result = m.invoke(store, args);
              } catch (InvocationTargetException e) {
                throw e.getCause();
              }
              if (m.getName().equals(method) && args != null && sid.equals(args[0])) {
                step.run();
              }
              return result;
            });
  }
}
