package dev.kubecoderun.files;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Optional;

/** Objects as files under DATA_DIR/objects, keyed like the S3 layout. */
public final class LocalObjectStore implements ObjectStore {
  private final Path root;

  public LocalObjectStore(Path dataDir) {
    this.root = dataDir.resolve("objects");
  }

  @Override
  public long put(String key, InputStream in, long maxBytes, String contentType)
      throws IOException {
    return LocalDisk.write(pathOf(key), in, maxBytes);
  }

  @Override
  public Optional<InputStream> open(String key) throws IOException {
    try {
      return Optional.of(Files.newInputStream(pathOf(key)));
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
  }

  @Override
  public void delete(String key) throws IOException {
    Files.deleteIfExists(pathOf(key));
  }

  private Path pathOf(String key) {
    Path p = root.resolve(key).normalize();
    if (!p.startsWith(root)) {
      throw new IllegalArgumentException("object key escapes the store: " + key);
    }
    return p;
  }
}
