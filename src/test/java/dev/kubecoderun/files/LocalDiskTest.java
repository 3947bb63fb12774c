package dev.kubecoderun.files;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LocalDiskTest {
  @TempDir Path dir;

  /** A write that cannot be renamed into place (a directory holds the name) leaves nothing. */
  @Test
  void aWriteThatFailsLeavesNoTemporaryFile() throws IOException {
    Path target = Files.createDirectories(dir.resolve("taken"));
    Files.write(target.resolve("inside"), new byte[] {1});

    assertThrows(UncheckedIOException.class, () -> LocalDisk.write(target, new byte[] {2}));
    // The disk's failure, not the stream's: unchecked, as a store failure (ObjectStore).
    assertThrows(
        UncheckedIOException.class,
        () -> LocalDisk.write(target, new ByteArrayInputStream(new byte[] {3}), 10));

    try (var names = Files.list(dir)) {
      assertEquals(List.of(target), names.toList());
    }
  }

  /** The caller's stream failing (a client gone) stays a checked IOException: not the store's. */
  @Test
  void aStreamThatFailsIsTheCallersFailure() throws IOException {
    InputStream broken =
        new InputStream() {
          @Override
          public int read() throws IOException {
            throw new IOException("client gone");
          }
        };
    IOException e =
        assertThrows(IOException.class, () -> LocalDisk.write(dir.resolve("f"), broken, 10));
    assertEquals("client gone", e.getMessage());
    try (var names = Files.list(dir)) {
      assertEquals(List.of(), names.toList());
    }
  }
}
