package dev.kubecoderun.files;

import dev.kubecoderun.memory.Room;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Optional;

/**
 * An object store that reports each failure of the store itself ({@link UncheckedIOException}:
 * unreachable, refused) to {@code onFailure}, for the store-errors metric. A checked {@link
 * IOException} is the caller's own stream (a client gone, a file too large) and is not counted.
 */
public final class CountingObjectStore implements ObjectStore {
  private final ObjectStore store;
  private final Runnable onFailure;

  public CountingObjectStore(ObjectStore store, Runnable onFailure) {
    this.store = store;
    this.onFailure = onFailure;
  }

  private interface Call<T> {
    T run() throws IOException;
  }

  private <T> T counted(Call<T> call) throws IOException {
    try {
      return call.run();
    } catch (UncheckedIOException e) {
      onFailure.run();
      throw e;
    }
  }

  @Override
  public long put(String key, InputStream in, long maxBytes, String contentType, Room room)
      throws IOException {
    return counted(() -> store.put(key, in, maxBytes, contentType, room));
  }

  @Override
  public Optional<InputStream> open(String key) throws IOException {
    return counted(() -> store.open(key));
  }

  @Override
  public Optional<InputStream> open(String key, long offset, long length) throws IOException {
    return counted(() -> store.open(key, offset, length));
  }

  @Override
  public void delete(String key) throws IOException {
    counted(
        () -> {
          store.delete(key);
          return null;
        });
  }

  @Override
  public List<ObjectSummary> list(String prefix, String startAfter, int limit) throws IOException {
    return counted(() -> store.list(prefix, startAfter, limit));
  }
}
