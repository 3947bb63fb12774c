package dev.kubecoderun.state;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.redis.PyTime;
import dev.kubecoderun.redis.RedisConnection;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import redis.clients.jedis.AbstractPipeline;
import redis.clients.jedis.Response;
import redis.clients.jedis.ScanIteration;
import redis.clients.jedis.params.SetParams;

/**
 * Python state in Redis with the reference keys, all expiring after STATE_TTL_SECONDS: {@code
 * {p}session:state:{sid}} (base64 of the raw bytes), {@code :hash:{sid}}, {@code :meta:{sid}}, and
 * {@code :uploaded:{sid}} (30 s, after POST /state). The state key alone is the truth: it is one
 * key, written in one command, so a reader never sees half a state; the hash reported is computed
 * from it. When an archive is configured, state missing from Redis is restored from it.
 */
public final class RedisStateStore implements StateStore {
  private static final long UPLOAD_MARKER_SECONDS = 30;

  /** A state idle long enough to be archived, with the hash of its bytes. */
  public record IdleState(String sessionId, String hash) {}

  private final RedisConnection redis;
  private final Duration ttl;
  private final Clock clock;
  private final StateArchive archive;

  /** {@code archive} null: no archival. */
  public RedisStateStore(RedisConnection redis, Duration ttl, Clock clock, StateArchive archive) {
    this.redis = redis;
    this.ttl = ttl;
    this.clock = clock;
    this.archive = archive;
  }

  /**
   * What each byte of a state's base64 in Redis costs while it is loaded: the reply's bytes, the
   * string made of them, and the decoded state (3/4).
   */
  static final int LOAD_COST = 3;

  /**
   * Its size first (with its meta and expiry), then, room made for it, its base64: a second round
   * trip for a session that has a state, none for one that has not.
   */
  @Override
  public Optional<StoredState> load(String sessionId, Instant sessionCreated, Room room) {
    return read(sessionId, sessionCreated, room, true);
  }

  @Override
  public Optional<StoredState> peek(String sessionId, Instant sessionCreated, Room room) {
    return read(sessionId, sessionCreated, room, false);
  }

  /** {@code restore}: an archived state is written back into Redis. */
  private Optional<StoredState> read(
      String sessionId, Instant sessionCreated, Room room, boolean restore) {
    List<Object> r =
        redis.call(
            j -> {
              try (AbstractPipeline p = j.pipelined()) {
                Response<Long> size = p.strlen(key("", sessionId));
                Response<String> meta = p.get(key("meta:", sessionId));
                Response<Long> pttl = p.pttl(key("", sessionId));
                p.sync();
                List<Object> out = new ArrayList<>();
                out.add(size.get());
                out.add(meta.get());
                out.add(pttl.get());
                return out;
              }
            });
    Instant now = clock.instant();
    long size = (Long) r.get(0);
    String base64 = null;
    if (size > 0) {
      // All of it or none: a state is read whole, never on unpaid.
      room.reserveAll(size * LOAD_COST);
      base64 = redis.call(j -> j.get(key("", sessionId)));
    }
    if (base64 == null) {
      return fromArchive(sessionId, sessionCreated, now, room, restore);
    }
    byte[] bytes = Base64.getDecoder().decode(base64);
    long pttl = (Long) r.get(2);
    Instant created = createdAt((String) r.get(1));
    return Optional.of(
        new StoredState(
            bytes,
            StateHash.of(bytes),
            created == null ? now : created,
            pttl > 0 ? now.plusMillis(pttl) : now.plus(ttl)));
  }

  private Optional<StoredState> fromArchive(
      String sessionId, Instant sessionCreated, Instant now, Room room, boolean restore) {
    if (archive == null) {
      return Optional.empty();
    }
    Optional<byte[]> archived = archive.read(sessionId, sessionCreated, room);
    if (archived.isEmpty()) {
      return Optional.empty();
    }
    byte[] bytes = archived.get();
    if (restore) {
      write(sessionId, bytes, false);
    }
    return Optional.of(new StoredState(bytes, StateHash.of(bytes), now, now.plus(ttl)));
  }

  @Override
  public void save(String sessionId, byte[] bytes) {
    write(sessionId, bytes, false);
  }

  /**
   * What each byte of a state costs while it is written, beside the bytes themselves: its base64 as
   * a string and again as the bytes sent (4/3 each), rounded up for the copy the encoder makes.
   */
  static final int SAVE_COST = 3;

  /**
   * Room for the write first: an upload holds its bytes, but a 50 MiB state would otherwise take
   * another ~135 MiB of the heap, past REQUEST_MEMORY_BUDGET_MB.
   */
  @Override
  public void saveUpload(String sessionId, byte[] bytes, Room room) {
    room.reserveAll((long) bytes.length * SAVE_COST);
    write(sessionId, bytes, true);
  }

  private void write(String sessionId, byte[] bytes, boolean fromUpload) {
    String hash = StateHash.of(bytes);
    Map<String, Object> meta = new LinkedHashMap<>();
    meta.put("size_bytes", bytes.length);
    meta.put("hash", hash);
    meta.put("created_at", PyTime.format(clock.instant()));
    meta.put("from_upload", fromUpload);
    SetParams expiry = new SetParams().ex(ttl.toSeconds());
    String base64 = Base64.getEncoder().encodeToString(bytes);
    redis.run(
        j -> {
          try (AbstractPipeline p = j.pipelined()) {
            p.set(key("", sessionId), base64, expiry);
            p.set(key("hash:", sessionId), hash, expiry);
            p.set(key("meta:", sessionId), Json.writeString(meta), expiry);
            if (fromUpload) {
              p.set(key("uploaded:", sessionId), "1", new SetParams().ex(UPLOAD_MARKER_SECONDS));
            }
            p.sync();
          }
        });
  }

  /** Deletes the state everywhere, its archive included, so a later load cannot resurrect it. */
  @Override
  public void delete(String sessionId) {
    redis.run(
        j -> {
          try (AbstractPipeline p = j.pipelined()) {
            for (String kind : new String[] {"", "hash:", "meta:", "uploaded:", "archived:"}) {
              p.del(key(kind, sessionId));
            }
            p.sync();
          }
        });
    if (archive != null) {
      archive.delete(sessionId);
    }
  }

  /**
   * Up to {@code limit} states not written for at least {@code idleFor} (remaining TTL at most
   * {@code ttl - idleFor}) whose current bytes are not archived yet.
   */
  public List<IdleState> idleStates(Duration idleFor, int limit) {
    long maxRemainingMs = ttl.minus(idleFor).toMillis();
    String base = redis.key("session:state:");
    List<IdleState> out = new ArrayList<>();
    redis.run(
        j -> {
          ScanIteration scan = j.scanIteration(500, globEscaped(base) + "*");
          while (!scan.isIterationCompleted() && out.size() < limit) {
            List<String> sids = new ArrayList<>();
            for (String key : scan.nextBatchList()) {
              String rest = key.substring(base.length());
              if (!rest.isEmpty() && rest.indexOf(':') < 0) {
                sids.add(rest);
              }
            }
            List<Response<Long>> pttls = new ArrayList<>();
            List<Response<String>> hashes = new ArrayList<>();
            List<Response<String>> archived = new ArrayList<>();
            try (AbstractPipeline p = j.pipelined()) {
              for (String sid : sids) {
                pttls.add(p.pttl(key("", sid)));
                hashes.add(p.get(key("hash:", sid)));
                archived.add(p.get(key("archived:", sid)));
              }
              p.sync();
            }
            for (int i = 0; i < sids.size() && out.size() < limit; i++) {
              long remaining = pttls.get(i).get();
              String hash = hashes.get(i).get();
              if (remaining > 0
                  && remaining <= maxRemainingMs
                  && (hash == null || !hash.equals(archived.get(i).get()))) {
                out.add(new IdleState(sids.get(i), hash));
              }
            }
          }
        });
    return out;
  }

  /** {@link #archive(String, Room)} bounded by no budget (tests). */
  public boolean archive(String sessionId) {
    return archive(sessionId, Room.NONE);
  }

  /**
   * What each byte of a state's base64 costs while it is archived: the reply's bytes, the string
   * made of them, the decoded state (3/4, for its hash), the text sent to S3 and the part S3 sends
   * it from.
   */
  static final int ARCHIVE_COST = 5;

  /**
   * Copies the state's current bytes into the archive and remembers which hash was archived (until
   * the state itself expires), so an unchanged state is not uploaded again every cycle. {@code
   * room} is asked for what that buffers once the state's size is known, before it is read, all of
   * it ({@link Room#reserveAll}: a {@link dev.kubecoderun.memory.MemoryBudgetExhaustedException}
   * from it archives nothing).
   */
  public boolean archive(String sessionId, Room room) {
    if (archive == null) {
      return false;
    }
    long size = redis.call(j -> j.strlen(key("", sessionId)));
    if (size == 0) {
      return false;
    }
    room.reserveAll(size * ARCHIVE_COST);
    String base64 = redis.call(j -> j.get(key("", sessionId)));
    if (base64 == null) {
      return false;
    }
    String hash = StateHash.of(Base64.getDecoder().decode(base64));
    archive.put(sessionId, base64);
    redis.run(
        j -> {
          long remaining = j.pttl(key("", sessionId));
          if (remaining > 0) {
            j.set(key("archived:", sessionId), hash, new SetParams().px(remaining));
          }
        });
    return true;
  }

  /**
   * {@code literal} as a SCAN pattern that matches only itself: REDIS_KEY_PREFIX may hold a glob
   * character ({@code [} would match none of our keys, so nothing would ever be archived; {@code *}
   * also another deployment's).
   */
  static String globEscaped(String literal) {
    StringBuilder sb = new StringBuilder(literal.length());
    for (char c : literal.toCharArray()) {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') {
        sb.append('\\');
      }
      sb.append(c);
    }
    return sb.toString();
  }

  private String key(String kind, String sessionId) {
    return redis.key("session:state:" + kind + sessionId);
  }

  private static Instant createdAt(String metaJson) {
    if (metaJson == null) {
      return null;
    }
    try {
      return PyTime.parse(
          Json.tree(metaJson.getBytes(StandardCharsets.UTF_8)).path("created_at").asText(null));
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }
}
