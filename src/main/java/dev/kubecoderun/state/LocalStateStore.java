package dev.kubecoderun.state;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.files.LocalDisk;
import dev.kubecoderun.memory.Room;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * State as DATA_DIR/states/{sid}/state.dat plus a small JSON of its creation and expiry. The hash
 * reported is computed from the bytes read, as the Redis store does: a save may replace state.dat
 * between a reader's look at meta.json and at state.dat.
 */
public final class LocalStateStore implements StateStore {
  private static final Logger LOG = Logger.getLogger(LocalStateStore.class.getName());

  /**
   * No hash: a read computes it from the bytes it read. (A meta.json written with one still loads:
   * the mapper ignores properties it does not know.)
   */
  private record Meta(Instant createdAt, Instant expiresAt) {}

  private final Path root;
  private final Duration ttl;
  private final Clock clock;

  public LocalStateStore(Path dataDir, Duration ttl, Clock clock) {
    this.root = dataDir.resolve("states");
    this.ttl = ttl;
    this.clock = clock;
  }

  /** No archive here: {@code sessionCreated} has nothing to tell apart. */
  @Override
  public Optional<StoredState> load(String sessionId, Instant sessionCreated, Room room) {
    return read(sessionId, room, true);
  }

  /**
   * As load, but an expired state is left where it is: GET /state reads without the session's lock,
   * and a run may have saved a new state since the expired one was read, which a delete here would
   * take with it.
   */
  @Override
  public Optional<StoredState> peek(String sessionId, Instant sessionCreated, Room room) {
    return read(sessionId, room, false);
  }

  /** {@code dropExpired}: an expired state is deleted (by its session's holder only). */
  private Optional<StoredState> read(String sessionId, Room room, boolean dropExpired) {
    Path dir = root.resolve(sessionId);
    Path metaFile = dir.resolve("meta.json");
    // Most runs: a new session. exists() first, as it costs no exception; a state it cannot check
    // (a permission denied, a symbolic link loop) is not "no state": the read below says why,
    // rather than the run going on without the session's variables.
    if (!Files.exists(metaFile) && Files.notExists(metaFile)) {
      return Optional.empty();
    }
    try {
      // A meta it cannot read (what a power cut can leave of one written unflushed: an empty
      // file) is no state, as an expired one: not a failure of every later run of the session.
      Meta meta = readMeta(metaFile);
      if (meta == null || meta.expiresAt().isBefore(clock.instant())) {
        if (dropExpired) {
          delete(sessionId);
        }
        return Optional.empty();
      }
      // One open file for its size and its bytes: a save puts a new state.dat in place by a
      // rename, so the one opened stays as it was, and what is read is what room was made for:
      // all of it, or the load fails (a state is read whole or not at all).
      try (FileChannel data = FileChannel.open(dir.resolve("state.dat"), StandardOpenOption.READ)) {
        long size = data.size();
        room.reserveAll(size);
        // At most the size room was made for (a file never written in place does not end early).
        byte[] bytes = Channels.newInputStream(data).readNBytes(Math.toIntExact(size));
        return Optional.of(
            new StoredState(bytes, StateHash.of(bytes), meta.createdAt(), meta.expiresAt()));
      }
    } catch (NoSuchFileException e) {
      return Optional.empty();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The meta, or null (logged) when the file holds none: empty, not JSON, a field missing. */
  private static Meta readMeta(Path metaFile) throws IOException {
    byte[] bytes = Files.readAllBytes(metaFile);
    try {
      Meta meta = Json.MAPPER.readValue(bytes, Meta.class);
      if (meta != null && meta.createdAt() != null && meta.expiresAt() != null) {
        return meta;
      }
    } catch (IOException e) {
      // From bytes in memory: JSON it cannot take (logged below).
    }
    LOG.warning("ignoring unreadable state file " + metaFile + " (" + bytes.length + " bytes)");
    return null;
  }

  @Override
  public void save(String sessionId, byte[] bytes) {
    Path dir = root.resolve(sessionId);
    Instant now = clock.instant();
    // Bytes first (flushed), then the meta that makes them visible: a crash may lose the meta,
    // and with it the state, but never leaves a meta beside truncated bytes.
    LocalDisk.write(dir.resolve("state.dat"), bytes);
    LocalDisk.write(dir.resolve("meta.json"), Json.write(new Meta(now, now.plus(ttl))), false);
  }

  @Override
  public void delete(String sessionId) {
    LocalDisk.deleteTree(root.resolve(sessionId));
  }
}
