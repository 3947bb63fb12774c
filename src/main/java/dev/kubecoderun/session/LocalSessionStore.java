package dev.kubecoderun.session;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.common.ThrottledWarning;
import dev.kubecoderun.files.LocalDisk;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.logging.Logger;

/**
 * Sessions in memory, written through to one JSON file each so they survive a restart. A session's
 * file is written (or deleted) inside the atomic step that changes it in memory: written after it,
 * an older copy could reach the disk last (a touch's over a claim's: after a restart the session
 * would be ownerless again, anyone's to claim).
 */
public final class LocalSessionStore implements SessionStore {
  private final Path dir;
  private final Map<String, Session> sessions = new ConcurrentHashMap<>();
  private final Clock clock;
  private final Consumer<Session> beforeWrite;

  /**
   * The last use each session's file holds. A run's touch is written only once the file's is a
   * minute old, and then flushed: every write is then one a power cut cannot turn into an empty
   * file (ext4 without auto_da_alloc, XFS), while a busy session costs no flush per request; a
   * restart may date a session's last use up to a minute early.
   */
  private final Map<String, Instant> onDisk = new ConcurrentHashMap<>();

  static final Duration TOUCH_WRITTEN_EVERY = Duration.ofMinutes(1);

  private static final ThrottledWarning touchNotWritten =
      new ThrottledWarning(
          Logger.getLogger(LocalSessionStore.class.getName()), Duration.ofMinutes(1));

  /** Keyed by (owner, user id, entity): each may be null but the entity, and may hold any text. */
  private final Map<List<String>, Claim> entityClaims = new ConcurrentHashMap<>();

  private record Claim(String sessionId, long untilNanos) {}

  public LocalSessionStore(Path dataDir) {
    this(dataDir, Clock.systemUTC());
  }

  /**
   * {@code clock}: the service's, which also dates the sessions it creates; whether a session has
   * expired must be read on the same clock, or a session expired for the one is live for the other.
   */
  public LocalSessionStore(Path dataDir, Clock clock) {
    this(dataDir, clock, s -> {});
  }

  /** {@code beforeWrite}: told of each session about to be written (tests order steps by it). */
  LocalSessionStore(Path dataDir, Clock clock, Consumer<Session> beforeWrite) {
    this.dir = dataDir.resolve("meta/sessions");
    this.clock = clock;
    this.beforeWrite = beforeWrite;
    load();
  }

  @Override
  public Session createOrReuse(Session candidate, boolean claimLegacy) {
    Instant now = candidate.lastActivity();
    Session s =
        sessions.compute(
            candidate.id(),
            (id, old) -> {
              if (old == null) {
                // A new file: a power cut can lose only it, and it is worth no flush on every
                // request that makes a session.
                return write(candidate, false);
              }
              if (old.isExpired(now)) {
                return old; // emptied before its id is used again: see ExpiredSessions
              }
              if (!old.isLegacy() && !old.owner().equals(candidate.owner())) {
                return old; // another's: left as it is (its caller is told it does not exist)
              }
              Session touched = old.touched(now);
              return claimLegacy && old.isLegacy() && candidate.owner() != null
                  ? write(touched.ownedBy(candidate.owner(), candidate.tenant()))
                  : touched(touched);
            });
    if (s.isExpired(now)) {
      throw new SessionExpiredException(s.id());
    }
    return s;
  }

  @Override
  public Optional<Session> find(String id) {
    return Optional.ofNullable(sessions.get(id)).filter(s -> !s.isExpired(clock.instant()));
  }

  @Override
  public Optional<Session> claim(String id, String owner, String tenant) {
    Instant now = clock.instant();
    Session s =
        sessions.computeIfPresent(
            id,
            (k, old) ->
                old.isLegacy() && !old.isExpired(now) ? write(old.ownedBy(owner, tenant)) : old);
    if (s == null || s.isExpired(now)) {
      return Optional.empty();
    }
    return Optional.of(s);
  }

  @Override
  public Optional<Session> findByEntity(String owner, String userId, String entityId) {
    Instant now = clock.instant();
    return sessions.values().stream()
        .filter(s -> entityId.equals(s.entityId()) && !s.isExpired(now))
        .filter(s -> Objects.equals(owner, s.owner()) && Objects.equals(userId, s.userId()))
        .max(Comparator.comparing(Session::lastActivity));
  }

  @Override
  public String claimEntity(String owner, String userId, String entityId, String candidateId) {
    long now = System.nanoTime();
    // Claims are few and short-lived: drop the stale ones on the way.
    entityClaims.values().removeIf(c -> c.untilNanos() - now < 0);
    return entityClaims
        .compute(
            Arrays.asList(owner, userId, entityId),
            (e, old) ->
                old != null && old.untilNanos() - now > 0
                    ? old
                    : new Claim(candidateId, now + ENTITY_CLAIM.toNanos()))
        .sessionId();
  }

  /** The cursor is "k" + the last id returned; ids are listed in sorted order. */
  @Override
  public IdPage ids(String cursor, int limit) {
    String after = IdPage.START.equals(cursor) ? null : cursor.substring(1);
    List<String> page =
        sessions.keySet().stream()
            .filter(id -> after == null || id.compareTo(after) > 0)
            .sorted()
            .limit(limit)
            .toList();
    return new IdPage(page, page.size() < limit ? IdPage.START : "k" + page.get(page.size() - 1));
  }

  @Override
  public void delete(String id) {
    sessions.compute(
        id,
        (k, old) -> {
          deleteFile(id);
          return null;
        });
  }

  @Override
  public boolean deleteIfUnused(Session created) {
    return deleteIf(
        created.id(),
        old ->
            old.createdAt().equals(created.createdAt())
                && old.lastActivity().equals(created.createdAt())
                && Objects.equals(old.owner(), created.owner()));
  }

  /**
   * Deletes the session {@code id} if {@code unwanted}, its file in the same atomic step: a session
   * re-created right after keeps its own file.
   */
  private boolean deleteIf(String id, Predicate<Session> unwanted) {
    boolean[] deleted = {false};
    sessions.computeIfPresent(
        id,
        (k, old) -> {
          if (!unwanted.test(old)) {
            return old;
          }
          deleteFile(k);
          deleted[0] = true;
          return null;
        });
    return deleted[0];
  }

  private void deleteFile(String id) {
    onDisk.remove(id);
    try {
      Files.deleteIfExists(dir.resolve(id + ".json"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public boolean hasExpired(String id) {
    Session s = sessions.get(id);
    return s != null && s.isExpired(clock.instant());
  }

  @Override
  public boolean deleteIfExpired(String id) {
    Instant now = clock.instant();
    return deleteIf(id, old -> old.isExpired(now));
  }

  @Override
  public void touch(String id, Instant now) {
    sessions.computeIfPresent(id, (k, old) -> touched(old.touched(now)));
  }

  /**
   * {@code s}, a touch, written only when its file's last use is a minute older (see onDisk). A
   * write that fails (a full disk) is tried again at the next touch: a touch only dates the
   * session's last use, which its expiry does not depend on, and a run that stores nothing must not
   * fail on it.
   */
  private Session touched(Session s) {
    Instant written = onDisk.get(s.id());
    if (written != null && s.lastActivity().isBefore(written.plus(TOUCH_WRITTEN_EVERY))) {
      return s;
    }
    try {
      return write(s);
    } catch (UncheckedIOException e) {
      touchNotWritten.warn("last use of session " + s.id() + " not written: " + e.getMessage());
      return s;
    }
  }

  /** Writes {@code s} to its file, flushed; only inside the atomic step that puts it in the map. */
  private Session write(Session s) {
    return write(s, true);
  }

  private Session write(Session s, boolean force) {
    beforeWrite.accept(s);
    LocalDisk.write(dir.resolve(s.id() + ".json"), Json.write(s), force);
    onDisk.put(s.id(), s.lastActivity());
    return s;
  }

  private void load() {
    LocalDisk.readAll(
        dir,
        1,
        Session.class,
        "session file",
        s -> {
          // Without its times a session fails every request that reads them: skipped (logged).
          Objects.requireNonNull(s.createdAt(), "no creation time");
          Objects.requireNonNull(s.lastActivity(), "no last activity");
          sessions.put(s.id(), s);
          onDisk.put(s.id(), s.lastActivity());
        });
  }
}
