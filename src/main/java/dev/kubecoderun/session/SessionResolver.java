package dev.kubecoderun.session;

import dev.kubecoderun.auth.Principal;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Picks the session of a request, for its principal and its LibreChat user id: the one named, else
 * the storage session of the first referenced file that is the principal's and was made for the
 * same user id, else the principal's session of the entity made for that user id, else a new one
 * (recording both). A well-formed session id that does not exist yet is adopted rather than
 * replaced, so state uploaded to it is found. A session belongs to the principal that created it;
 * another principal never uses it: a run that names it goes on in a session of its own ({@link
 * Another#FALL_BACK}), anything else is told it does not exist. A session written before owners
 * were recorded is taken over by the first API key that uses it (see docs/auth.md, "Migration").
 *
 * <p>With an API key (or without auth) every LibreChat user is one principal, told apart only by
 * {@code user_id}; and LibreChat references the agent author's files (and may name their session)
 * in every user's run. A session holds one user's Python state, outputs and run queue, so a run
 * adopts it only when its recorded user id is the request's (null matches only null: without user
 * ids nothing changes); a run naming another user's session falls back as for another principal's
 * (see docs/architecture.md, "Session selection"). The files referenced are placed in the run
 * whichever session it gets.
 */
public final class SessionResolver {
  /** What a request gets that names another principal's session. */
  public enum Another {
    /**
     * Resolved as if it named none (a referenced file's session of the principal's, its entity's, a
     * new one): a run. LibreChat seeds a run with the storage session of the files it references,
     * which is another user's for a skill or agent file shared by the tenant; the client adopts the
     * session the answer names.
     */
    FALL_BACK,
    /** {@link SessionNotFoundException}, as for an id nobody uses: an upload into it. */
    NOT_FOUND
  }

  private final SessionStore store;
  private final Clock clock;
  private final Duration ttl;
  private final ExpiredSessions expired;
  private final Duration wait;

  /**
   * {@code ttl} ZERO: sessions never expire. {@code wait}: how long an expired session named again
   * waits for a run of it to end before it is emptied (SESSION_QUEUE_TIMEOUT_SECONDS).
   */
  public SessionResolver(
      SessionStore store, Clock clock, Duration ttl, ExpiredSessions expired, Duration wait) {
    this.store = store;
    this.clock = clock;
    this.ttl = ttl;
    this.expired = expired;
    this.wait = wait;
  }

  /**
   * @param userId the request's user id, null for none, never empty (the endpoints make an empty
   *     one none): a store keeps none for an empty one, which would then not match itself after a
   *     restore
   * @param another what {@code requestedId} being another principal's session gives
   * @throws SessionNotFoundException {@code requestedId} is another principal's session, with
   *     {@link Another#NOT_FOUND}
   * @throws SessionBusyException {@code requestedId} expired and a run of it held it for the whole
   *     wait, so it could not be emptied
   */
  public Session resolve(
      Principal principal,
      String requestedId,
      List<String> fileSessionIds,
      String entityId,
      String userId,
      Another another)
      throws InterruptedException {
    Instant now = clock.instant();
    if (requestedId != null) {
      try {
        Session named = createOwned(principal, requestedId, entityId, userId, now);
        // An upload names a session to put files there for its runs: it goes there, as before.
        // A run of another user's session would see and change that user's state. A run naming
        // no user (LibreChat's programmatic calls and read_file: the session of the user's last
        // run) cannot be told from its user's own: it keeps the session it named.
        if (another == Another.NOT_FOUND || userId == null || sameUser(principal, named, userId)) {
          return named;
        }
      } catch (SessionNotFoundException e) {
        if (another == Another.NOT_FOUND) {
          throw e;
        }
        // As if it named none: nothing of the other's session (its state, its files) is used.
      }
    }
    // Many references may share a session: each is looked up (a store round trip) once; the one
    // named, just found to be another's, not again.
    LinkedHashSet<String> referenced = new LinkedHashSet<>(fileSessionIds);
    referenced.remove(requestedId);
    for (String sid : referenced) {
      // An agent's or skill's file, referenced by every user's run, is in its uploader's session.
      Optional<Session> s = findOwned(principal, sid);
      if (s.isPresent() && sameUser(principal, s.get(), userId)) {
        store.touch(sid, now);
        return s.get().touched(now);
      }
    }
    if (entityId != null) {
      Optional<Session> s = store.findByEntity(principal.user(), userId, entityId);
      if (s.isEmpty() && principal.mayClaimLegacy()) {
        s =
            store
                .findByEntity(null, userId, entityId)
                .flatMap(legacy -> store.claim(legacy.id(), principal.user(), principal.tenant()))
                .filter(claimed -> principal.user().equals(claimed.owner()));
      }
      if (s.isPresent()) {
        store.touch(s.get().id(), now);
        return s.get().touched(now);
      }
      String id = store.claimEntity(principal.user(), userId, entityId, Ids.next());
      return createOwned(principal, id, entityId, userId, now);
    }
    return createOwned(principal, Ids.next(), entityId, userId, now);
  }

  /**
   * Whether {@code s} was made for the LibreChat user {@code userId} (null: for none). A JWT
   * principal is one user already (its sessions are no other user's), and LibreChat's programmatic
   * runs send no user id: checking it there would only cost them the session of the user's last
   * run.
   */
  private static boolean sameUser(Principal principal, Session s, String userId) {
    return principal.source() == Principal.Source.JWT || Objects.equals(s.userId(), userId);
  }

  /**
   * The session, when it is the principal's (taking over a session without an owner when the
   * principal may); empty when it does not exist or is another's.
   */
  public Optional<Session> findOwned(Principal principal, String id) {
    Optional<Session> s = store.find(id);
    if (s.isEmpty()) {
      return s;
    }
    if (s.get().isLegacy() && principal.mayClaimLegacy()) {
      s = store.claim(id, principal.user(), principal.tenant());
    }
    return s.filter(found -> principal.user().equals(found.owner()));
  }

  /** Whether the session exists and is the principal's (see {@link #findOwned}). */
  public boolean owns(Principal principal, String id) {
    return findOwned(principal, id).isPresent();
  }

  /** Any live session, whoever owns it: for listings that decide file by file. */
  public Optional<Session> find(String id) {
    return store.find(id);
  }

  /**
   * Creates the session for the principal, or reuses it when it is already theirs (atomically:
   * replicas may race). An expired session is no one's: whoever names its id next gets it, emptied
   * first (no files, no state), so nothing of the former owner's carries over.
   *
   * @throws SessionNotFoundException it exists and is another principal's
   * @throws SessionBusyException it expired and a run of it held it for the whole wait
   */
  public Session createOwned(
      Principal principal, String id, String entityId, String userId, Instant now)
      throws InterruptedException {
    Instant expiresAt = ttl.isZero() ? null : now.plus(ttl);
    Session candidate =
        new Session(
            id, now, now, expiresAt, entityId, userId, principal.user(), principal.tenant());
    Session s;
    try {
      s = store.createOrReuse(candidate, principal.mayClaimLegacy());
    } catch (SessionExpiredException e) {
      try {
        expired.empty(id, wait);
      } catch (IOException io) {
        throw new UncheckedIOException(io);
      }
      s = store.createOrReuse(candidate, principal.mayClaimLegacy());
    }
    if (!principal.user().equals(s.owner())) {
      throw new SessionNotFoundException(id);
    }
    return s;
  }

  /**
   * Whether {@code s}, resolved a moment ago, is still the session of its id: not expired, emptied
   * and made anew (by another principal, say) since. Sessions that never expire always are.
   */
  public boolean isStill(Session s) {
    if (ttl.isZero()) {
      return true;
    }
    return store
        .find(s.id())
        .filter(now -> now.createdAt().equals(s.createdAt()))
        .filter(now -> Objects.equals(now.owner(), s.owner()))
        .isPresent();
  }

  /**
   * Forgets {@code s}, resolved a moment ago, if resolving it created it and nobody has used it
   * since ({@link SessionStore#deleteIfUnused}): for a run refused before it ran, which leaves
   * nothing behind. A session that existed before was touched when resolved, and stays.
   */
  public void forgetIfCreated(Session s) {
    if (s.createdAt().equals(s.lastActivity())) {
      store.deleteIfUnused(s);
    }
  }

  /** {@link #createOwned} at the current time. */
  public Session createOwned(Principal principal, String id) throws InterruptedException {
    return createOwned(principal, id, null, null, clock.instant());
  }
}
