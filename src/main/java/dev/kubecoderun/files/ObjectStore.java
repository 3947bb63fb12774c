package dev.kubecoderun.files;

import java.io.IOException;
import java.io.InputStream;
import java.util.Optional;

/** Where file bytes live: local disk (embedded) or S3-compatible storage (production). */
public interface ObjectStore {
  /**
   * Streams {@code in} to {@code key}. Throws {@link TooLargeException} past {@code maxBytes},
   * leaving nothing stored. Returns the size.
   */
  long put(String key, InputStream in, long maxBytes, String contentType) throws IOException;

  /** The object's bytes, or empty if it does not exist. The caller closes the stream. */
  Optional<InputStream> open(String key) throws IOException;

  void delete(String key) throws IOException;
}
