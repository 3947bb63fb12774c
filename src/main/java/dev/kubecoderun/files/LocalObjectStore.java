package dev.kubecoderun.files;

import dev.kubecoderun.memory.Room;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

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

  /**
   * Deletes the object, then its directories left empty ({@code sessions/<sid>/uploads/}, then
   * {@code sessions/<sid>/}), or every session that ever had a file would keep them for good.
   */
  @Override
  public void delete(String key) throws IOException {
    Path p = pathOf(key);
    Files.deleteIfExists(p);
    LocalDisk.deleteEmptyDirs(p.getParent(), root);
  }

  /**
   * Walks the directories under the prefix in key order, each one's entries sorted as their keys
   * sort (a directory's name with its "/"), and stops at {@code limit}: a page reads the entries of
   * the directories on its way, never a subtree wholly before {@code startAfter} or after the page.
   * Temporary files of writes in progress are skipped.
   */
  @Override
  public List<ObjectSummary> list(String prefix, String startAfter, int limit) throws IOException {
    int slash = prefix.lastIndexOf('/');
    String dirKey = slash < 0 ? "" : prefix.substring(0, slash + 1);
    List<ObjectSummary> out = new ArrayList<>();
    if (limit > 0) {
      walk(pathOf(dirKey), dirKey, prefix, startAfter, limit, out);
    }
    return out;
  }

  /** {@code dirKey}: the key prefix of what {@code dir} holds ("" or ending in "/"). */
  private void walk(
      Path dir, String dirKey, String prefix, String startAfter, int limit, List<ObjectSummary> out)
      throws IOException {
    TreeMap<String, BasicFileAttributes> entries = new TreeMap<>();
    try (DirectoryStream<Path> children = Files.newDirectoryStream(dir)) {
      for (Path child : children) {
        String name = child.getFileName().toString();
        if (name.startsWith(".")) {
          continue;
        }
        BasicFileAttributes attrs;
        try {
          attrs = Files.readAttributes(child, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
          continue; // deleted meanwhile
        }
        String key = dirKey + name + (attrs.isDirectory() ? "/" : "");
        boolean underPrefix =
            key.startsWith(prefix) || (attrs.isDirectory() && prefix.startsWith(key));
        // A directory holds only keys that start with its key: all before startAfter when its key
        // is, unless startAfter is inside it.
        boolean afterCursor =
            startAfter == null
                || key.compareTo(startAfter) > 0
                || (attrs.isDirectory() && startAfter.startsWith(key));
        if (underPrefix && afterCursor && (attrs.isDirectory() || attrs.isRegularFile())) {
          entries.put(key, attrs);
        }
      }
    } catch (NoSuchFileException | NotDirectoryException e) {
      return; // no such directory (deleted meanwhile, or never made): nothing under it
    }
    for (Map.Entry<String, BasicFileAttributes> e : entries.entrySet()) {
      if (out.size() >= limit) {
        return;
      }
      String key = e.getKey();
      BasicFileAttributes attrs = e.getValue();
      if (attrs.isDirectory()) {
        walk(pathOf(key), key, prefix, startAfter, limit, out);
      } else {
        out.add(new ObjectSummary(key, attrs.size(), attrs.lastModifiedTime().toInstant()));
      }
    }
  }

  private Path pathOf(String key) {
    Path p = root.resolve(key).normalize();
    if (!p.startsWith(root)) {
      throw new IllegalArgumentException("object key escapes the store: " + key);
    }
    return p;
  }
}
