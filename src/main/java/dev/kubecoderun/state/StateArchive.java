package dev.kubecoderun.state;

import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.memory.PaidRead;
import dev.kubecoderun.memory.Room;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.Base64;
import java.util.List;
import java.util.Optional;

/**
 * Archived Python state in the object store, as the reference lays it out: {@code
 * states/{sid}/state.dat} holding the base64 text of the raw state bytes.
 */
public final class StateArchive {
  static final String PREFIX = "states/";

  private final ObjectStore objects;

  public StateArchive(ObjectStore objects) {
    this.objects = objects;
  }

  static String key(String sessionId) {
    return PREFIX + sessionId + "/state.dat";
  }

  public void put(String sessionId, String base64) {
    byte[] text = base64.getBytes(StandardCharsets.UTF_8);
    try {
      objects.put(
          key(sessionId), new ByteArrayInputStream(text), text.length, "application/octet-stream");
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * What each byte of an archive costs while it is restored: its piece, the text made of them, the
   * string, the decoded state (3/4), and its base64 and bytes again as Redis gets it back.
   */
  static final int RESTORE_COST = 6;

  /**
   * The archived raw state bytes, if there is an archive; {@code room} asked for {@link
   * #RESTORE_COST} times each piece of the archive before it is read.
   */
  public Optional<byte[]> read(String sessionId, Room room) {
    try {
      Optional<InputStream> in = objects.open(key(sessionId));
      if (in.isEmpty()) {
        return Optional.empty();
      }
      try (InputStream stream = in.get()) {
        PaidRead paid = PaidRead.of(stream, Integer.MAX_VALUE - 16, room, RESTORE_COST);
        String text = new String(paid.stream().readAllBytes(), StandardCharsets.UTF_8).trim();
        return Optional.of(Base64.getDecoder().decode(text));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  public void delete(String sessionId) {
    try {
      objects.delete(key(sessionId));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Deletes archives last written before {@code now - maxAge}, looking at up to {@code limit}
   * objects after {@code startAfter}. Returns the key to continue after, or null at the end.
   */
  public String expire(Duration maxAge, Instant now, String startAfter, int limit) {
    Instant cutoff = now.minus(maxAge);
    try {
      List<ObjectStore.ObjectSummary> page = objects.list(PREFIX, startAfter, limit);
      for (ObjectStore.ObjectSummary o : page) {
        if (o.lastModified().isBefore(cutoff)) {
          objects.delete(o.key());
        }
      }
      return page.size() < limit ? null : page.get(page.size() - 1).key();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
