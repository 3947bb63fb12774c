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
import java.util.logging.Logger;

/**
 * Archived Python state in the object store, as the reference lays it out: {@code
 * states/{sid}/state.dat} holding the base64 text of the raw state bytes.
 */
public final class StateArchive {
  private static final Logger LOG = Logger.getLogger(StateArchive.class.getName());
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
    return read(sessionId, null, room);
  }

  /**
   * As {@link #read(String, Room)}, but an archive last written before {@code notBefore} (a
   * session's creation; null: any) is not read: it is an earlier session's of the same id (see
   * {@link StateStore#load(String, Instant, Room)}). A session's own archive is written at least
   * STATE_ARCHIVE_AFTER_SECONDS (60 s or more) after its creation, so clocks a little apart do not
   * turn it away.
   */
  public Optional<byte[]> read(String sessionId, Instant notBefore, Room room) {
    try {
      if (notBefore != null && !writtenSince(sessionId, notBefore)) {
        return Optional.empty();
      }
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

  /**
   * Whether the archive exists and was last written at or after {@code since}. S3 keeps an object's
   * time in whole seconds: an archive written in the second its session was made in counts as
   * before it, which a session's own never is (written a minute or more after).
   */
  private boolean writtenSince(String sessionId, Instant since) throws IOException {
    String key = key(sessionId);
    for (ObjectStore.ObjectSummary o : objects.list(key, null, 1)) {
      if (o.key().equals(key)) {
        if (o.lastModified().isBefore(since)) {
          LOG.warning(
              "the archived Python state of session "
                  + sessionId
                  + " is older than the session (Redis lost the session it was of): not restored");
          return false;
        }
        return true;
      }
    }
    return false;
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
