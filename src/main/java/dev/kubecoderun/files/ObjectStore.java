package dev.kubecoderun.files;

import dev.kubecoderun.memory.Room;
import java.io.IOException;
import java.io.InputStream;
import java.time.Instant;
import java.util.List;
import java.util.Optional;

/**
 * Where file bytes live: local disk (embedded) or S3-compatible storage (production). A store that
 * cannot be reached throws {@link java.io.UncheckedIOException} (the API answers 503); a checked
 * {@link IOException} comes from the caller's own stream (a client that went away, {@link
 * TooLargeException}).
 */
public interface ObjectStore {
  /** One stored object, as listed. */
  record ObjectSummary(String key, long size, Instant lastModified) {}

  /**
   * Streams {@code in} to {@code key}. Throws {@link TooLargeException} past {@code maxBytes},
   * leaving nothing stored. Returns the size. {@code room} is asked, before anything is read, for
   * what the store may keep of the stream in memory before it sends it (an S3 part, less for a
   * smaller {@code maxBytes}: a caller that knows a tighter bound passes it), and given it all back
   * before this returns; {@link dev.kubecoderun.memory.MemoryBudgetExhaustedException} when none
   * came: nothing read, nothing stored.
   */
  long put(String key, InputStream in, long maxBytes, String contentType, Room room)
      throws IOException;

  /** As {@link #put(String, InputStream, long, String, Room)}, on no budget (the caller's own). */
  default long put(String key, InputStream in, long maxBytes, String contentType)
      throws IOException {
    return put(key, in, maxBytes, contentType, Room.NONE);
  }

  /** The object's bytes, or empty if it does not exist. The caller closes the stream. */
  Optional<InputStream> open(String key) throws IOException;

  /**
   * The {@code length} bytes (at least one) of the object from {@code offset}, or empty if it does
   * not exist. The stream ends after them, or earlier if the object is shorter than the caller
   * thinks: the caller counts. The caller closes the stream.
   */
  Optional<InputStream> open(String key, long offset, long length) throws IOException;

  /** Deletes the object; no error when it does not exist. */
  void delete(String key) throws IOException;

  /**
   * Up to {@code limit} objects whose key starts with {@code prefix}, in key order, after {@code
   * startAfter} (null: from the first).
   */
  List<ObjectSummary> list(String prefix, String startAfter, int limit) throws IOException;
}
