package dev.kubecoderun.session;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Picks the session of a request: the one named, else the storage session of the first referenced
 * file, else the entity's, else a new one. A well-formed session id that does not exist yet is
 * adopted rather than replaced, so state uploaded to it is found.
 */
public final class SessionResolver {
  private final SessionStore store;
  private final Clock clock;
  private final Duration ttl;

  /** {@code ttl} ZERO: sessions never expire. */
  public SessionResolver(SessionStore store, Clock clock, Duration ttl) {
    this.store = store;
    this.clock = clock;
    this.ttl = ttl;
  }

  public Session resolve(
      String requestedId, List<String> fileSessionIds, String entityId, String userId) {
    Instant now = clock.instant();
    if (requestedId != null) {
      return create(requestedId, entityId, userId, now);
    }
    for (String sid : fileSessionIds) {
      Optional<Session> s = store.find(sid);
      if (s.isPresent()) {
        store.touch(sid, now);
        return s.get().touched(now);
      }
    }
    if (entityId != null) {
      Optional<Session> s = store.findByEntity(entityId);
      if (s.isPresent()) {
        store.touch(s.get().id(), now);
        return s.get().touched(now);
      }
      return create(store.claimEntity(entityId, Ids.next()), entityId, userId, now);
    }
    return create(Ids.next(), entityId, userId, now);
  }

  public Optional<Session> find(String id) {
    return store.find(id);
  }

  /** Creates the session, or reuses it when it exists (atomically: replicas may race). */
  private Session create(String id, String entityId, String userId, Instant now) {
    Instant expiresAt = ttl.isZero() ? null : now.plus(ttl);
    return store.createOrReuse(new Session(id, now, now, expiresAt, entityId, userId));
  }
}
