package dev.kubecoderun.files;

import dev.kubecoderun.memory.Room;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/** Objects as files under DATA_DIR/objects, keyed like the S3 layout. */
public final class LocalObjectStore implements ObjectStore {
  private final Path root;

  public LocalObjectStore(Path dataDir) {
    this.root = dataDir.resolve("objects");
  }

  @Override
  public long put(String key, InputStream in, long maxBytes, String contentType, Room room)
      throws IOException {
    // Written as it arrives, a buffer at a time: nothing to ask room for.
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
  public Optional<InputStream> open(String key, long offset, long length) throws IOException {
    FileChannel channel;
    try {
      channel = FileChannel.open(pathOf(key), StandardOpenOption.READ);
    } catch (NoSuchFileException e) {
      return Optional.empty();
    }
    try {
      channel.position(offset);
    } catch (IOException | RuntimeException e) {
      channel.close();
      throw e;
    }
    return Optional.of(new Bounded(Channels.newInputStream(channel), length));
  }

  /** Ends a stream after a number of bytes. */
  private static final class Bounded extends FilterInputStream {
    private long left;

    Bounded(InputStream in, long left) {
      super(in);
      this.left = left;
    }

    @Override
    public int read() throws IOException {
      if (left <= 0) {
        return -1;
      }
      int b = super.read();
      if (b >= 0) {
        left--;
      }
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (left <= 0) {
        return len == 0 ? 0 : -1;
      }
      int n = super.read(b, off, (int) Math.min(len, left));
      if (n > 0) {
        left -= n;
      }
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      long skipped = super.skip(Math.min(n, left));
      left -= skipped;
      return skipped;
    }

    @Override
    public int available() throws IOException {
      return (int) Math.min(super.available(), left);
    }
  }

  @Override
  public void delete(String key) throws IOException {
    Files.deleteIfExists(pathOf(key));
  }

  /** Walks the directory under the prefix; temporary files of writes in progress are skipped. */
  @Override
  public List<ObjectSummary> list(String prefix, String startAfter, int limit) throws IOException {
    int slash = prefix.lastIndexOf('/');
    Path dir = pathOf(slash < 0 ? "" : prefix.substring(0, slash));
    if (!Files.isDirectory(dir)) {
      return List.of();
    }
    List<ObjectSummary> out = new ArrayList<>();
    try (Stream<Path> paths = Files.walk(dir)) {
      List<String> keys =
          paths
              .filter(p -> Files.isRegularFile(p) && !p.getFileName().toString().startsWith("."))
              .map(p -> root.relativize(p).toString().replace('\\', '/'))
              .filter(
                  k -> k.startsWith(prefix) && (startAfter == null || k.compareTo(startAfter) > 0))
              .sorted()
              .limit(limit)
              .toList();
      for (String k : keys) {
        Path p = pathOf(k);
        try {
          out.add(new ObjectSummary(k, Files.size(p), Files.getLastModifiedTime(p).toInstant()));
        } catch (NoSuchFileException e) {
          // deleted meanwhile
        }
      }
    }
    return out;
  }

  private Path pathOf(String key) {
    Path p = root.resolve(key).normalize();
    if (!p.startsWith(root)) {
      throw new IllegalArgumentException("object key escapes the store: " + key);
    }
    return p;
  }
}
