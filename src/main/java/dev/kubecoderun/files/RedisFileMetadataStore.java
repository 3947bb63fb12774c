package dev.kubecoderun.files;

import dev.kubecoderun.redis.PyTime;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.redis.RedisHashes;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.Response;

/**
 * File metadata in Redis with the reference layout: hash {@code {p}files:{sid}:{fid}} and set
 * {@code {p}session_files:{sid}}, both expiring with the session TTL when one is set. Ours beside
 * the reference's fields: {@code owner}, {@code tenant} and {@code kind} (user, agent, skill),
 * absent on files written before owners were recorded.
 */
public final class RedisFileMetadataStore implements FileMetadataStore {
  private final RedisConnection redis;
  private final long ttlSeconds;

  /** {@code sessionTtl} ZERO: metadata never expires (as sessions). */
  public RedisFileMetadataStore(RedisConnection redis, Duration sessionTtl) {
    this.redis = redis;
    this.ttlSeconds = sessionTtl.toSeconds();
  }

  /**
   * The record first, then the set entry: a save cut between the two (Redis failing) leaves a
   * record no listing or count sees, never an id in the set without its record, which would count
   * toward MAX_SESSION_FILES without being listed. So an id in the set whose record is missing is
   * never a save in progress: {@link #list} and {@link #usage} drop it.
   */
  @Override
  public void save(StoredFile file) {
    String setKey = setKey(file.sessionId());
    List<String> args = RedisHashes.args(ttlSeconds, toHash(file));
    redis.run(
        j -> {
          j.eval(RedisHashes.REPLACE_WITH_TTL, List.of(fileKey(file.sessionId(), file.id())), args);
          j.sadd(setKey, file.id());
          if (ttlSeconds > 0) {
            j.expire(setKey, ttlSeconds);
          }
        });
  }

  @Override
  public Optional<StoredFile> find(String sessionId, String fileId) {
    Map<String, String> h = redis.call(j -> j.hgetAll(fileKey(sessionId, fileId)));
    return h.isEmpty() ? Optional.empty() : Optional.of(fromHash(h, sessionId, fileId));
  }

  @Override
  public List<StoredFile> list(String sessionId) {
    List<String> ids = new ArrayList<>(redis.call(j -> j.smembers(setKey(sessionId))));
    if (ids.isEmpty()) {
      return List.of();
    }
    List<String> keys = ids.stream().map(id -> fileKey(sessionId, id)).toList();
    List<Map<String, String>> hashes = redis.call(j -> RedisHashes.getAll(j, keys));
    List<StoredFile> files = new ArrayList<>();
    List<String> dangling = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      if (hashes.get(i).isEmpty()) {
        dangling.add(ids.get(i));
      } else {
        files.add(fromHash(hashes.get(i), sessionId, ids.get(i)));
      }
    }
    drop(sessionId, dangling);
    files.sort(Comparator.comparing(StoredFile::createdAt).thenComparing(StoredFile::id));
    return files;
  }

  /**
   * The ids in the session's set that have their record, as {@link #list} finds them, with each
   * record's {@code size}; the other ids are dropped from the set. One pipelined HMGET of {@code
   * file_id} and {@code size} per id (at most MAX_SESSION_FILES), one round trip, no record read
   * whole: a record has both fields (ours and the Python version's alike), a missing one neither.
   * Measured on the test Redis against an EXISTS per id (what counting alone would take): 0.23
   * against 0.19 ms for 20 files, 7.9 against 5.6 ms for 5000 (an EXISTS and an HGET each took
   * 16.6).
   */
  @Override
  public SessionUsage usage(String sessionId) {
    List<String> ids = new ArrayList<>(redis.call(j -> j.smembers(setKey(sessionId))));
    if (ids.isEmpty()) {
      return SessionUsage.NONE;
    }
    List<List<String>> fields =
        redis.call(
            j -> {
              List<Response<List<String>>> replies = new ArrayList<>(ids.size());
              try (AbstractPipeline p = j.pipelined()) {
                for (String id : ids) {
                  replies.add(p.hmget(fileKey(sessionId, id), "file_id", "size"));
                }
                p.sync();
              }
              return replies.stream().map(Response::get).toList();
            });
    List<String> dangling = new ArrayList<>();
    long bytes = 0;
    for (int i = 0; i < ids.size(); i++) {
      List<String> f = fields.get(i);
      if (f.get(0) == null && f.get(1) == null) {
        dangling.add(ids.get(i));
      } else {
        bytes += sizeOf(f.get(1));
      }
    }
    drop(sessionId, dangling);
    return new SessionUsage(ids.size() - dangling.size(), bytes);
  }

  private static long sizeOf(String field) {
    try {
      return field == null ? 0 : Math.max(0, Long.parseLong(field));
    } catch (NumberFormatException e) {
      return 0;
    }
  }

  /**
   * Removes ids whose record is gone from the session's set, so they are not counted again: a
   * delete cut short between its two writes, a save of an earlier release (set entry first) cut
   * short, a record Redis expired before its set.
   */
  private void drop(String sessionId, List<String> dangling) {
    if (!dangling.isEmpty()) {
      redis.run(j -> j.srem(setKey(sessionId), dangling.toArray(String[]::new)));
    }
  }

  @Override
  public boolean delete(String sessionId, String fileId) {
    return redis.call(
        j -> {
          long removed = j.del(fileKey(sessionId, fileId));
          j.srem(setKey(sessionId), fileId);
          return removed > 0;
        });
  }

  private String fileKey(String sessionId, String fileId) {
    return redis.key("files:" + sessionId + ":" + fileId);
  }

  private String setKey(String sessionId) {
    return redis.key("session_files:" + sessionId);
  }

  private static Map<String, String> toHash(StoredFile f) {
    Map<String, String> h = new LinkedHashMap<>();
    h.put("file_id", f.id());
    h.put("filename", f.name());
    h.put("content_type", f.contentType());
    h.put("object_key", f.objectKey());
    h.put("session_id", f.sessionId());
    h.put("created_at", PyTime.format(f.createdAt()));
    h.put("size", Long.toString(f.size()));
    h.put("path", f.path());
    h.put("type", f.kind() == StoredFile.Kind.UPLOAD ? "upload" : "output");
    if (f.owner() != null) {
      h.put("owner", f.owner());
      h.put("tenant", f.tenant());
      h.put("kind", f.sharing().code());
    }
    if (f.readOnly()) {
      h.put("read_only", "1");
    }
    return h;
  }

  /** Tolerant of hashes written by the Python version (the same fields, maybe fewer). */
  private static StoredFile fromHash(Map<String, String> h, String sessionId, String fileId) {
    StoredFile.Kind kind =
        "output".equals(h.get("type")) ? StoredFile.Kind.OUTPUT : StoredFile.Kind.UPLOAD;
    String key = h.get("object_key");
    Instant created = PyTime.parse(h.get("created_at"));
    long size = sizeOf(h.get("size"));
    return new StoredFile(
        sessionId,
        fileId,
        h.getOrDefault("filename", fileId),
        h.getOrDefault("content_type", "application/octet-stream"),
        key == null || key.isEmpty() ? StoredFile.objectKey(sessionId, kind, fileId) : key,
        size,
        created == null ? Instant.EPOCH : created,
        kind,
        emptyToNull(h.get("owner")),
        emptyToNull(h.get("tenant")),
        h.get("owner") == null || h.get("owner").isEmpty()
            ? null
            : java.util.Objects.requireNonNullElse(
                StoredFile.Sharing.parse(h.get("kind")), StoredFile.Sharing.USER),
        "1".equals(h.get("read_only")));
  }

  private static String emptyToNull(String s) {
    return s == null || s.isEmpty() ? null : s;
  }
}
