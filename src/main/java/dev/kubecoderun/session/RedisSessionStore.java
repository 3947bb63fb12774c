package dev.kubecoderun.session;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.redis.PyTime;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.redis.RedisHashes;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.params.ScanParams;
import redis.clients.jedis.resps.ScanResult;

/**
 * Sessions in Redis with the reference layout: hash {@code {p}sessions:{id}} (EXPIRE = session TTL
 * when set), set {@code {p}sessions:index} of every id, set {@code {p}entity_sessions:{entity}};
 * and ours: the hash fields {@code owner} and {@code tenant} (the principal that created it; absent
 * on sessions written before owners were recorded), the sets {@code
 * {p}entity_sessions:{entity}:{owner hash}[:{user hash}]} of an owner's sessions of an entity made
 * without a user id or for one LibreChat user id (the reference's set keeps the ownerless ones, of
 * any user), and {@code {p}entity_claim:{entity}[:{owner hash}[:{user hash}]]} (30 s): the id
 * concurrent first requests share. Keyed by user, an entity lookup is one set read however many
 * users share the agent, and never lands on another user's session. Each atomic step touches one
 * key only, so the same code works on Redis Cluster. An id stays in the index until its session is
 * emptied ({@link ExpiredSessions}): after Redis expired the hash, that is what keeps the id from
 * being created anew before then.
 */
public final class RedisSessionStore implements SessionStore {
  /**
   * KEYS[1] the session hash; ARGV[1] TTL seconds, ARGV[2] now, ARGV[3] and ARGV[4] the owner and
   * tenant that take over a live session without an owner ('' = none), ARGV[5] '1' to create the
   * session when there is no hash, ARGV[6] the caller's owner ('' = none), then the new hash's
   * fields. A live session is reused (ISO times in one format compare as strings), touched unless
   * it is another owner's (returned as it is: the caller is told it does not exist); an expired one
   * is left for the clean-up to empty (0); no hash: created, or (ARGV[5] '0') 1.
   */
  private static final String CREATE_OR_REUSE =
      """
      local expires = redis.call('HGET', KEYS[1], 'expires_at')
      if redis.call('HGET', KEYS[1], 'status') == 'active' and (not expires or expires > ARGV[2]) then
        local owner = redis.call('HGET', KEYS[1], 'owner')
        if not owner or owner == '' or owner == ARGV[6] then
          redis.call('HSET', KEYS[1], 'last_activity', ARGV[2])
        end
        if ARGV[3] ~= '' and (not owner or owner == '') then
          redis.call('HSET', KEYS[1], 'owner', ARGV[3], 'tenant', ARGV[4])
        end
        return redis.call('HGETALL', KEYS[1])
      end
      if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
      if ARGV[5] ~= '1' then return 1 end
      redis.call('HSET', KEYS[1], unpack(ARGV, 7))
      if tonumber(ARGV[1]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
      return redis.call('HGETALL', KEYS[1])
      """;

  /** KEYS[1] the session hash; ARGV[1] now, ARGV[2] owner, ARGV[3] tenant. */
  private static final String CLAIM =
      """
      local expires = redis.call('HGET', KEYS[1], 'expires_at')
      if redis.call('HGET', KEYS[1], 'status') ~= 'active' or (expires and expires <= ARGV[1]) then
        return {}
      end
      local owner = redis.call('HGET', KEYS[1], 'owner')
      if not owner or owner == '' then
        redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'tenant', ARGV[3])
      end
      return redis.call('HGETALL', KEYS[1])
      """;

  /** KEYS[1] the session hash; ARGV[1] now. Deletes it unless it is live. */
  private static final String DELETE_IF_EXPIRED =
      """
      local expires = redis.call('HGET', KEYS[1], 'expires_at')
      if redis.call('HGET', KEYS[1], 'status') == 'active' and (not expires or expires > ARGV[1]) then
        return 0
      end
      redis.call('DEL', KEYS[1])
      return 1
      """;

  /**
   * KEYS[1] the session hash; ARGV[1] its creation time, ARGV[2] its owner ('' = none). Deletes it
   * only while it is that session, never touched since its creation.
   */
  private static final String DELETE_IF_UNUSED =
      """
      if redis.call('HGET', KEYS[1], 'created_at') ~= ARGV[1]
          or redis.call('HGET', KEYS[1], 'last_activity') ~= ARGV[1]
          or (redis.call('HGET', KEYS[1], 'owner') or '') ~= ARGV[2] then
        return 0
      end
      redis.call('DEL', KEYS[1])
      return 1
      """;

  /** Never creates a partial hash for a session that is gone. */
  private static final String TOUCH =
      """
      if redis.call('EXISTS', KEYS[1]) == 1 then
        redis.call('HSET', KEYS[1], 'last_activity', ARGV[1])
      end
      return 1
      """;

  private final RedisConnection redis;
  private final Clock clock;

  public RedisSessionStore(RedisConnection redis, Clock clock) {
    this.redis = redis;
    this.clock = clock;
  }

  @Override
  public Session createOrReuse(Session candidate, boolean claimLegacy) {
    long ttl =
        candidate.expiresAt() == null
            ? 0
            : Math.max(
                1, Duration.between(candidate.createdAt(), candidate.expiresAt()).toSeconds());
    List<String> args = new ArrayList<>();
    args.add(Long.toString(ttl));
    args.add(PyTime.format(candidate.lastActivity()));
    boolean claims = claimLegacy && candidate.owner() != null;
    args.add(claims ? candidate.owner() : "");
    args.add(claims ? candidate.tenant() : "");
    args.add("0");
    args.add(candidate.owner() != null ? candidate.owner() : "");
    toHash(candidate)
        .forEach(
            (field, value) -> {
              args.add(field);
              args.add(value);
            });
    List<String> key = List.of(sessionKey(candidate.id()));
    // One round trip: the attempt, and beside it whether the index has the id, needed when there
    // is no hash (a new id, or one whose hash Redis expired: the index keeps such an id until it
    // is emptied, so it is created only if not indexed).
    Object[] first =
        redis.call(
            j -> {
              try (AbstractPipeline p = j.pipelined()) {
                Response<Boolean> indexed =
                    p.sismember(redis.key("sessions:index"), candidate.id());
                Response<Object> attempt = p.eval(CREATE_OR_REUSE, key, args);
                p.sync();
                return new Object[] {indexed.get(), attempt.get()};
              }
            });
    Object reply = first[1];
    if (Long.valueOf(1).equals(reply)) {
      // Indexed: looked at again, as a replica creating it at once indexes it after its hash.
      args.set(4, Boolean.TRUE.equals(first[0]) ? "0" : "1");
      reply = redis.call(j -> j.eval(CREATE_OR_REUSE, key, args));
    }
    if (reply instanceof Long) {
      throw new SessionExpiredException(candidate.id());
    }
    Session stored = fromHash(RedisHashes.fromFlatList(reply));
    if (stored.owner() != null && !stored.owner().equals(candidate.owner())) {
      return stored; // another's: nothing of it is written
    }
    // The index entries are idempotent and written after the hash: the clean-up and the orphan
    // sweep collect whatever a failure between the two leaves behind. The index entry only where
    // the attempt's round trip found none (a reused session is indexed already); the entity's
    // always (a claimed session moves to its new owner's entity set).
    boolean indexed = Boolean.TRUE.equals(first[0]);
    if (!indexed || stored.entityId() != null) {
      redis.run(
          j -> {
            if (!indexed) {
              j.sadd(redis.key("sessions:index"), stored.id());
            }
            if (stored.entityId() != null) {
              j.sadd(entityKey(stored.owner(), stored.userId(), stored.entityId()), stored.id());
            }
          });
    }
    return stored;
  }

  @Override
  public Optional<Session> claim(String id, String owner, String tenant) {
    Object reply =
        redis.call(
            j ->
                j.eval(
                    CLAIM,
                    List.of(sessionKey(id)),
                    List.of(PyTime.format(clock.instant()), owner, tenant)));
    Map<String, String> hash = RedisHashes.fromFlatList(reply);
    if (hash.isEmpty()) {
      return Optional.empty();
    }
    Session s = fromHash(hash);
    if (s.entityId() != null && owner.equals(s.owner())) {
      // Found by its owner's entity lookups from now on.
      redis.run(j -> j.sadd(entityKey(owner, s.userId(), s.entityId()), id));
    }
    return Optional.of(s);
  }

  /** SET NX with a TTL: the first of concurrent requests (any replica) wins. */
  private static final String CLAIM_ENTITY =
      """
      if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return ARGV[1] end
      return redis.call('GET', KEYS[1])
      """;

  @Override
  public String claimEntity(String owner, String userId, String entityId, String candidateId) {
    Object winner =
        redis.call(
            j ->
                j.eval(
                    CLAIM_ENTITY,
                    List.of(redis.key("entity_claim:" + entityId + scope(owner, userId))),
                    List.of(candidateId, Long.toString(ENTITY_CLAIM.toSeconds()))));
    return winner == null ? candidateId : winner.toString();
  }

  /**
   * The reference's set for ownerless sessions (of every user: the lookup picks the user's); an
   * owner's own sets beside it, one per user id.
   */
  private String entityKey(String owner, String userId, String entityId) {
    if (owner == null) {
      return redis.key("entity_sessions:" + entityId);
    }
    return redis.key("entity_sessions:" + entityId + scope(owner, userId));
  }

  /**
   * {@code :<owner hash>[:<user hash>]} (hash: 24 hex of sha256; {@code -} for no owner), or
   * nothing for neither. Entity ids have no ':' (they are [A-Za-z0-9_-]), so an owner's or a user's
   * key never collides with another entity's or with the legacy key; user ids of any length and
   * content make keys of one size.
   */
  private static String scope(String owner, String userId) {
    if (owner == null && userId == null) {
      return "";
    }
    return ":" + (owner == null ? "-" : hash(owner)) + (userId == null ? "" : ":" + hash(userId));
  }

  private static String hash(String s) {
    try {
      byte[] d =
          java.security.MessageDigest.getInstance("SHA-256")
              .digest(s.getBytes(StandardCharsets.UTF_8));
      return java.util.HexFormat.of().formatHex(d, 0, 12);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  @Override
  public Optional<Session> find(String id) {
    Map<String, String> hash = redis.call(j -> j.hgetAll(sessionKey(id)));
    if (hash.isEmpty() || !"active".equals(hash.get("status"))) {
      return Optional.empty();
    }
    Session s = fromHash(hash);
    return s.isExpired(clock.instant()) ? Optional.empty() : Optional.of(s);
  }

  /**
   * One of the owner's live sessions of the entity for the user; members whose session is gone (or,
   * in the ownerless set, that found an owner since) are dropped on the way, and so are, in an
   * owner's set, sessions of another user (written there before sets were kept per user: no lookup
   * finds them there any more). The ownerless set holds every user's legacy sessions: another
   * user's stay, and among many users' a user's own may be missed by the sample (then the user gets
   * a new session, never another's).
   */
  @Override
  public Optional<Session> findByEntity(String owner, String userId, String entityId) {
    String setKey = entityKey(owner, userId, entityId);
    List<String> ids = redis.call(j -> j.srandmember(setKey, 10));
    for (String id : ids) {
      Optional<Session> s = find(id);
      boolean ownersMatch = s.isPresent() && Objects.equals(owner, s.get().owner());
      if (ownersMatch && Objects.equals(userId, s.get().userId())) {
        return s;
      }
      if (!ownersMatch || owner != null) {
        redis.run(j -> j.srem(setKey, id));
      }
    }
    return Optional.empty();
  }

  @Override
  public void touch(String id, Instant now) {
    redis.run(j -> j.eval(TOUCH, List.of(sessionKey(id)), List.of(PyTime.format(now))));
  }

  @Override
  public IdPage ids(String cursor, int limit) {
    ScanResult<String> page =
        redis.call(
            j -> j.sscan(redis.key("sessions:index"), cursor, new ScanParams().count(limit)));
    return new IdPage(page.getResult(), page.getCursor());
  }

  @Override
  public void delete(String id) {
    Map<String, String> hash = redis.call(j -> j.hgetAll(sessionKey(id)));
    redis.run(j -> j.del(sessionKey(id)));
    forget(id, hash);
  }

  /**
   * The hash in one atomic step with the check, then the index and entity entries: those {@code
   * created} names, which are the hash's (it is deleted only as it was created; its metadata and
   * owner never change but by a claim, which the check sees).
   */
  @Override
  public boolean deleteIfUnused(Session created) {
    String time = PyTime.format(created.createdAt());
    String owner = created.owner() == null ? "" : created.owner();
    Object deleted =
        redis.call(
            j -> j.eval(DELETE_IF_UNUSED, List.of(sessionKey(created.id())), List.of(time, owner)));
    if (!Long.valueOf(1).equals(deleted)) {
      return false;
    }
    forget(created.id(), created.entityId(), created.owner(), created.userId());
    return true;
  }

  /** Removes the id from the index and from the entity sets its hash names. */
  private void forget(String id, Map<String, String> hash) {
    JsonNode metadata = metadata(hash.get("metadata"));
    forget(
        id, text(metadata, "entity_id"), emptyToNull(hash.get("owner")), text(metadata, "user_id"));
  }

  /** Removes the id from the index and from the entity sets of its entity, owner and user. */
  private void forget(String id, String entity, String owner, String user) {
    redis.run(
        j -> {
          j.srem(redis.key("sessions:index"), id);
          if (entity != null) {
            j.srem(entityKey(null, null, entity), id);
            if (owner != null) {
              // Its user's set, and the one without a user where older releases put every user's.
              j.srem(entityKey(owner, user, entity), id);
              j.srem(entityKey(owner, null, entity), id);
            }
          }
        });
  }

  /** An expired hash, or none while the index still has the id (Redis expired the hash). */
  @Override
  public boolean hasExpired(String id) {
    Map<String, String> hash = redis.call(j -> j.hgetAll(sessionKey(id)));
    if (hash.isEmpty()) {
      return redis.call(j -> j.sismember(redis.key("sessions:index"), id));
    }
    return !"active".equals(hash.get("status")) || fromHash(hash).isExpired(clock.instant());
  }

  /**
   * The hash goes in one atomic step with the check; the index entry after it, as the index is what
   * keeps an id whose hash is gone from being created anew before it is emptied.
   */
  @Override
  public boolean deleteIfExpired(String id) {
    Map<String, String> hash = redis.call(j -> j.hgetAll(sessionKey(id)));
    Object deleted =
        redis.call(
            j ->
                j.eval(
                    DELETE_IF_EXPIRED,
                    List.of(sessionKey(id)),
                    List.of(PyTime.format(clock.instant()))));
    if (!Long.valueOf(1).equals(deleted)) {
      return false;
    }
    forget(id, hash);
    return true;
  }

  private String sessionKey(String id) {
    // sessions:index is the index itself: a session hash there would break every session's
    // lookup (a wrong-type error) until removed by hand.
    if (Ids.RESERVED.equals(id)) {
      throw new IllegalArgumentException("not a session id: " + id);
    }
    return redis.key("sessions:" + id);
  }

  /** The reference's hash fields; the pod and usage fields stay empty as in the Python version. */
  private static Map<String, String> toHash(Session s) {
    Map<String, String> metadata = new LinkedHashMap<>();
    if (s.entityId() != null) {
      metadata.put("entity_id", s.entityId());
    }
    if (s.userId() != null) {
      metadata.put("user_id", s.userId());
    }
    Map<String, String> h = new LinkedHashMap<>();
    h.put("session_id", s.id());
    h.put("status", "active");
    h.put("created_at", PyTime.format(s.createdAt()));
    h.put("last_activity", PyTime.format(s.lastActivity()));
    h.put("expires_at", s.expiresAt() == null ? PyTime.NEVER : PyTime.format(s.expiresAt()));
    h.put("pod_name", "");
    h.put("pod_status", "");
    h.put("files", "{}");
    h.put("working_directory", "/mnt/data");
    h.put("memory_usage_mb", "");
    h.put("cpu_usage_percent", "");
    h.put("metadata", Json.writeString(metadata));
    if (s.owner() != null) {
      h.put("owner", s.owner());
      h.put("tenant", s.tenant());
    }
    return h;
  }

  private static Session fromHash(Map<String, String> h) {
    Instant created = PyTime.parse(h.get("created_at"));
    Instant last = PyTime.parse(h.get("last_activity"));
    String expires = h.get("expires_at");
    Instant expiresAt =
        expires == null || expires.startsWith("9999") ? null : PyTime.parse(expires);
    JsonNode meta = metadata(h.get("metadata"));
    return new Session(
        h.get("session_id"),
        created,
        last == null ? created : last,
        expiresAt,
        text(meta, "entity_id"),
        text(meta, "user_id"),
        emptyToNull(h.get("owner")),
        emptyToNull(h.get("tenant")));
  }

  private static String emptyToNull(String s) {
    return s == null || s.isEmpty() ? null : s;
  }

  private static JsonNode metadata(String json) {
    try {
      return Json.tree((json == null ? "{}" : json).getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      return Json.MAPPER.createObjectNode();
    }
  }

  private static String text(JsonNode node, String field) {
    JsonNode v = node.path(field);
    return v.isTextual() && !v.asText().isEmpty() ? v.asText() : null;
  }
}
