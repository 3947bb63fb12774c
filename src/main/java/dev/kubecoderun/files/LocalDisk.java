package dev.kubecoderun.files;

import dev.kubecoderun.common.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.time.Instant;
import java.util.Objects;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Writes for the embedded stores: always to a temporary file first, forced to disk, then an atomic
 * rename, so a crash or a rejected upload never leaves a half-written file under a store's name.
 * What a kill leaves of the temporary file is deleted at the next start or orphan sweep ({@link
 * #deleteStaleTemporaries}).
 */
public final class LocalDisk {
  private static final Logger LOG = Logger.getLogger(LocalDisk.class.getName());

  /**
   * How long a temporary file is left alone before it counts as left behind: the orphan sweep's
   * grace, far longer than any write stalls between two buffers.
   */
  public static final Duration TEMPORARY_GRACE = Duration.ofHours(1);

  private LocalDisk() {}

  /**
   * Every {@code *.json} file in {@code dir} (and its sub-folders, {@code depth} levels down) read
   * as a {@code type} and handed to {@code load}: what an embedded store wrote through, loaded at
   * its start. A file that cannot be read, or whose record {@code load} cannot take (no JSON
   * object, a missing id), is skipped with a warning naming {@code what} it holds; no directory, no
   * records.
   */
  public static <T> void readAll(
      Path dir, int depth, Class<T> type, String what, Consumer<? super T> load) {
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (var paths = Files.walk(dir, depth)) {
      for (Path p : paths.filter(p -> p.getFileName().toString().endsWith(".json")).toList()) {
        try {
          load.accept(Objects.requireNonNull(Json.read(Files.readAllBytes(p), type), "null"));
        } catch (IOException | RuntimeException e) {
          LOG.warning("skipping unreadable " + what + " " + p + ": " + e.getMessage());
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** {@code bytes} as {@code target}, forced to disk before the rename. */
  public static void write(Path target, byte[] bytes) {
    write(target, bytes, true);
  }

  /**
   * {@code bytes} as {@code target}; {@code force} false skips the flush before the rename, for a
   * record written on many requests whose newest copy a crash may cost (a new session's first file,
   * a key's usage count, usage figures, a state's meta): the rename still replaces it whole, and a
   * flush would cost each such request milliseconds (5-6 ms on the development VM) inside the
   * store's step for that record.
   */
  public static void write(Path target, byte[] bytes, boolean force) {
    try {
      Path tmp = tempBeside(target);
      try (FileChannel out = createTemp(tmp)) {
        ByteBuffer buf = ByteBuffer.wrap(bytes);
        while (buf.hasRemaining()) {
          out.write(buf);
        }
        if (force) {
          out.force(false);
        }
      } catch (IOException | RuntimeException e) {
        Files.deleteIfExists(tmp);
        throw e;
      }
      moveIntoPlace(tmp, target);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Streams {@code in} into {@code target}; more than {@code maxBytes} throws {@link
   * TooLargeException} and leaves nothing behind. Returns the size written. As {@link ObjectStore}
   * says: a failure to read {@code in} (the caller's stream) is an {@link IOException}, a failure
   * to write the disk (full, read-only, gone) an {@link UncheckedIOException}, the store's failure.
   */
  public static long write(Path target, InputStream in, long maxBytes) throws IOException {
    Path tmp = tempBeside(target);
    long total = 0;
    try (FileChannel channel = stored(() -> createTemp(tmp))) {
      byte[] buf = new byte[64 * 1024];
      int n;
      while ((n = in.read(buf)) != -1) {
        total += n;
        if (total > maxBytes) {
          throw new TooLargeException(maxBytes);
        }
        ByteBuffer chunk = ByteBuffer.wrap(buf, 0, n);
        stored(
            () -> {
              while (chunk.hasRemaining()) {
                channel.write(chunk);
              }
              return null;
            });
      }
      stored(
          () -> {
            channel.force(false);
            return null;
          });
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
    stored(
        () -> {
          moveIntoPlace(tmp, target);
          return null;
        });
    return total;
  }

  private interface DiskStep<T> {
    T run() throws IOException;
  }

  /** {@code step}'s result; its IOException, a failure of the disk, as an UncheckedIOException. */
  private static <T> T stored(DiskStep<T> step) {
    try {
      return step.run();
    } catch (IOException e) {
      throw new UncheckedIOException(e.getMessage(), e);
    }
  }

  /**
   * Whether {@code e} (or what caused it) is a disk with no room left: no space (ENOSPC, also when
   * it has no inode left) or the quota used up (EDQUOT). The JDK names both only in its message.
   */
  public static boolean isFull(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      String m = t.getMessage();
      if (t instanceof IOException
          && m != null
          && (m.contains("No space left on device") || m.contains("Disk quota exceeded"))) {
        return true;
      }
    }
    return false;
  }

  /**
   * Deletes the temporary files under {@code dir} that no write has touched for {@link
   * #TEMPORARY_GRACE} before {@code now}: what writes cut off by a kill left behind. A write in
   * progress touches its file with every buffer, so it is never one of them. Returns how many went.
   */
  public static int deleteStaleTemporaries(Path dir, Instant now) {
    if (!Files.isDirectory(dir)) {
      return 0;
    }
    FileTime cutoff = FileTime.from(now.minus(TEMPORARY_GRACE));
    int[] deleted = {0};
    try {
      Files.walkFileTree(
          dir,
          new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult visitFile(Path p, BasicFileAttributes attrs) throws IOException {
              String name = p.getFileName().toString();
              if (name.startsWith(".")
                  && name.endsWith(".tmp")
                  && attrs.isRegularFile()
                  && attrs.lastModifiedTime().compareTo(cutoff) < 0
                  && Files.deleteIfExists(p)) {
                deleted[0]++;
              }
              return FileVisitResult.CONTINUE;
            }

            // A file or directory gone meanwhile (a write finished, a session deleted): skipped.
            @Override
            public FileVisitResult visitFileFailed(Path p, IOException e) {
              return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) {
              return FileVisitResult.CONTINUE;
            }
          });
    } catch (IOException e) {
      LOG.warning("cannot sweep temporary files under " + dir + ": " + e.getMessage());
    }
    if (deleted[0] > 0) {
      LOG.info("deleted " + deleted[0] + " temporary file(s) left by interrupted writes");
    }
    return deleted[0];
  }

  public static void deleteTree(Path root) {
    if (!Files.exists(root)) {
      return;
    }
    try (var paths = Files.walk(root)) {
      paths
          .sorted(java.util.Comparator.reverseOrder())
          .forEach(
              p -> {
                try {
                  Files.deleteIfExists(p);
                } catch (IOException ignored) {
                  // best effort: a later sweep removes what is left
                }
              });
    } catch (IOException ignored) {
      // best effort
    }
  }

  /**
   * Creates {@code tmp}, and its directory when that is missing (asked first because
   * createDirectories throws and catches an exception, its stack trace filled, when it exists, as
   * it does for most writes). A store deletes a directory its last file left (deleteEmptyDirs): one
   * deleted between its creation here and the file's is made again; once the file is in it, it is
   * not empty and stays.
   */
  private static FileChannel createTemp(Path tmp) throws IOException {
    Path parent = tmp.getParent();
    for (int attempt = 1; ; attempt++) {
      try {
        if (!Files.isDirectory(parent)) {
          Files.createDirectories(parent);
        }
        return FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
      } catch (NoSuchFileException e) {
        if (attempt == 3) {
          throw e;
        }
      }
    }
  }

  /**
   * Deletes {@code from} and then each directory above it, up to {@code stopAt} (which stays), as
   * long as they are empty: what a file's removal emptied, which would otherwise be kept for good.
   * One that is not empty stays, and those above it too (a file in it, or a write's temporary file:
   * a write that finds its directory gone before that makes it again, see createTemp); one that
   * cannot go now costs the caller, whose delete is done, nothing.
   */
  public static void deleteEmptyDirs(Path from, Path stopAt) {
    for (Path dir = from; dir.startsWith(stopAt) && !dir.equals(stopAt); dir = dir.getParent()) {
      try {
        Files.deleteIfExists(dir);
      } catch (IOException e) {
        return;
      }
    }
  }

  private static Path tempBeside(Path target) {
    return target.resolveSibling("." + target.getFileName() + "." + UUID.randomUUID() + ".tmp");
  }

  /**
   * The temporary file's bytes were forced to disk before this, so a crash after the rename never
   * leaves a truncated file under the target's name. The directory is not forced after the rename:
   * on a journaling file system (ext4, XFS) renames reach the journal in order, so a crash may lose
   * the last ones but never keeps a later one (a file's metadata record) without an earlier one
   * (its bytes); forcing it would cost every write, a run's session and state among them, one more
   * disk flush.
   */
  private static void moveIntoPlace(Path tmp, Path target) throws IOException {
    try {
      try {
        Files.move(
            tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
  }
}
