package dev.kubecoderun.session;

import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Where sessions live: memory (embedded) or Redis (production). Expired sessions are never
 * returned.
 */
public interface SessionStore {
  /**
   * The session with {@code candidate}'s id, touched at {@code candidate.lastActivity()}, if it
   * exists (another owner's is returned untouched: nothing of it is written); else {@code
   * candidate}, now stored. Atomic: two replicas creating the same id at once both get the one
   * session that won.
   *
   * @throws SessionExpiredException the id is a session that expired and was not emptied yet
   *     ({@link #hasExpired}): it is never replaced before {@link ExpiredSessions#empty} removed
   *     its state and files
   */
  default Session createOrReuse(Session candidate) {
    return createOrReuse(candidate, false);
  }

  /**
   * As {@link #createOrReuse(Session)}; with {@code claimLegacy}, an existing session without an
   * owner becomes {@code candidate}'s owner's in the same atomic step.
   */
  Session createOrReuse(Session candidate, boolean claimLegacy);

  Optional<Session> find(String id);

  /**
   * The live session {@code id} after giving it to {@code owner} if it had no owner (atomically: of
   * two principals claiming at once, one wins and the other sees the winner's session).
   */
  Optional<Session> claim(String id, String owner, String tenant);

  /**
   * A live session {@code owner} created for an entity (a LibreChat agent or assistant) for the
   * LibreChat user {@code userId}, if any; {@code owner} null: one of the legacy sessions of the
   * entity, written without an owner. The session's recorded user must be {@code userId} exactly
   * (null matches only null): with an API key every LibreChat user is one principal, told apart by
   * {@code user_id} alone, and a session (its Python state, its outputs) is one user's.
   */
  Optional<Session> findByEntity(String owner, String userId, String entityId);

  /**
   * The id a new session of {@code owner} and {@code userId} for the entity gets: {@code
   * candidateId}, unless a concurrent request (this replica or another) of the same owner and user
   * claimed one for the entity within {@link #ENTITY_CLAIM}; then that one. So two first requests
   * of one entity at once end in one session, not two.
   */
  String claimEntity(String owner, String userId, String entityId, String candidateId);

  /** How long an entity's claim covers later first requests (then the session itself is found). */
  java.time.Duration ENTITY_CLAIM = java.time.Duration.ofSeconds(30);

  void touch(String id, Instant now);

  /**
   * One page of the ids of every known session, live or expired, for the clean-up. Start with
   * {@link IdPage#START}; the last page has {@code next} equal to {@link IdPage#START}.
   */
  IdPage ids(String cursor, int limit);

  /** Forgets the session (not its files, not its state). */
  void delete(String id);

  /**
   * Forgets {@code created}, a session just created (as {@link #createOrReuse} returned it: its
   * entity and user name the entries that go with it), only while it is as it was created: the same
   * session (its creation time and owner), never touched since (every request that resolves a
   * session touches it, so none but its creator's has used it). Atomic with the check. Returns
   * whether it did. What a run refused before it ran rolls back (one tenant's refused retries would
   * otherwise fill the store with empty sessions until they expire).
   */
  boolean deleteIfUnused(Session created);

  /**
   * Whether {@code id} is a session that expired (or that Redis expired) and is not forgotten yet:
   * such a session blocks {@link #createOrReuse} until {@link #deleteIfExpired}.
   */
  boolean hasExpired(String id);

  /**
   * Forgets the session only while it is expired (compare-and-delete): never a live one. Returns
   * whether it did.
   */
  boolean deleteIfExpired(String id);

  /** A page of session ids and where the next one starts. */
  record IdPage(List<String> ids, String next) {
    public static final String START = "0";

    public boolean isLast() {
      return START.equals(next);
    }
  }
}
