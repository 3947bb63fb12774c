package dev.kubecoderun.files;

import dev.kubecoderun.common.Json;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Objects;
import java.util.UUID;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Writes for the embedded stores: always to a temporary file first, then an atomic rename, so a
 * crash or a rejected upload never leaves a half-written file behind.
 */
public final class LocalDisk {
  private static final Logger LOG = Logger.getLogger(LocalDisk.class.getName());

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

  public static void write(Path target, byte[] bytes) {
    try {
      ensureParent(target);
      Path tmp = tempBeside(target);
      Files.write(tmp, bytes);
      moveIntoPlace(tmp, target);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Streams {@code in} into {@code target}; more than {@code maxBytes} throws {@link
   * TooLargeException} and leaves nothing behind. Returns the size written.
   */
  public static long write(Path target, InputStream in, long maxBytes) throws IOException {
    ensureParent(target);
    Path tmp = tempBeside(target);
    long total = 0;
    try (OutputStream out = Files.newOutputStream(tmp)) {
      byte[] buf = new byte[64 * 1024];
      int n;
      while ((n = in.read(buf)) != -1) {
        total += n;
        if (total > maxBytes) {
          throw new TooLargeException(maxBytes);
        }
        out.write(buf, 0, n);
      }
    } catch (IOException | RuntimeException e) {
      Files.deleteIfExists(tmp);
      throw e;
    }
    moveIntoPlace(tmp, target);
    return total;
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
   * Creates the target's directory when it is missing. Asked first because createDirectories throws
   * and catches an exception (its stack trace filled) when it exists, as it does for most writes.
   */
  private static void ensureParent(Path target) throws IOException {
    Path parent = target.getParent();
    if (!Files.isDirectory(parent)) {
      Files.createDirectories(parent);
    }
  }

  private static Path tempBeside(Path target) {
    return target.resolveSibling("." + target.getFileName() + "." + UUID.randomUUID() + ".tmp");
  }

  private static void moveIntoPlace(Path tmp, Path target) throws IOException {
    try {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
  }
}
