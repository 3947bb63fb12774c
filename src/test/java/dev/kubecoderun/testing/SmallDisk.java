package dev.kubecoderun.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A tmpfs of its own, a disk a test can fill and make room on again (mounting needs root, which
 * tests have, here as in CI). {@link #close} unmounts it.
 */
public final class SmallDisk implements AutoCloseable {
  /** tmpfs hands out room a page at a time. */
  public static final int PAGE = 4096;

  public final Path root;
  private final Path filler;

  private SmallDisk(Path root) {
    this.root = root;
    this.filler = root.resolve("filler");
  }

  /** A new tmpfs of {@code megabytes} MiB on a new temporary directory. */
  public static SmallDisk mount(int megabytes) {
    try {
      Path dir = Files.createTempDirectory("kcr-small-disk-");
      run("mount", "-t", "tmpfs", "-o", "size=" + megabytes + "m", "tmpfs", dir.toString());
      return new SmallDisk(dir);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Fills the disk: not one page left. */
  public void fill() {
    fillLeaving(0);
  }

  /** Fills the disk but for {@code bytes} (rounded up to pages). */
  public void fillLeaving(long bytes) {
    try (FileChannel out =
        FileChannel.open(
            filler,
            StandardOpenOption.CREATE,
            StandardOpenOption.WRITE,
            StandardOpenOption.APPEND)) {
      ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
      try {
        while (true) {
          chunk.clear();
          out.write(chunk);
        }
      } catch (IOException full) {
        // no space left: the disk is full
      }
      long pages = (bytes + PAGE - 1) / PAGE;
      out.truncate(Math.max(0, out.size() / PAGE * PAGE - pages * PAGE));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Deletes what filled the disk. */
  public void makeRoom() {
    try {
      Files.deleteIfExists(filler);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Bytes still free. */
  public long free() {
    try {
      return Files.getFileStore(root).getUsableSpace();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    // Lazily: a file a server under test still holds open must not keep the mount.
    run("umount", "-l", root.toString());
    try {
      Files.deleteIfExists(root);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void run(String... command) {
    try {
      Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes());
      if (p.waitFor() != 0) {
        throw new IllegalStateException(String.join(" ", command) + " failed: " + out);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
