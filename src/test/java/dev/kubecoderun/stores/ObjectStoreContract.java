package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.files.TooLargeException;
import dev.kubecoderun.session.Ids;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** What every ObjectStore does; run against the local disk store and against S3. */
abstract class ObjectStoreContract {
  abstract ObjectStore store();

  private final String prefix = "sessions/" + Ids.next() + "/";

  private static byte[] read(InputStream in) throws IOException {
    try (in) {
      return in.readAllBytes();
    }
  }

  @Test
  void storedBytesComeBackUnchanged() throws IOException {
    byte[] content = "a,b\n1,2\n".getBytes(StandardCharsets.UTF_8);
    long size =
        store().put(prefix + "uploads/f1", new ByteArrayInputStream(content), 100, "text/csv");
    assertEquals(content.length, size);
    assertArrayEquals(content, read(store().open(prefix + "uploads/f1").orElseThrow()));
  }

  @Test
  void aRangeGivesJustThoseBytes() throws IOException {
    byte[] content = "0123456789".getBytes(StandardCharsets.UTF_8);
    store().put(prefix + "uploads/r", new ByteArrayInputStream(content), 100, null);
    assertEquals("345", text(store().open(prefix + "uploads/r", 3, 3).orElseThrow()));
    assertEquals("0", text(store().open(prefix + "uploads/r", 0, 1).orElseThrow()));
    assertEquals("9", text(store().open(prefix + "uploads/r", 9, 1).orElseThrow()));
    assertEquals("0123456789", text(store().open(prefix + "uploads/r", 0, 10).orElseThrow()));
    assertTrue(store().open(prefix + "uploads/none", 0, 1).isEmpty());
  }

  /** What a ranged stream gives within the asked length (a store may send no more). */
  private static String text(InputStream in) throws IOException {
    try (in) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  @Test
  void aMissingObjectIsEmptyAndDeletingItIsNoError() throws IOException {
    assertTrue(store().open(prefix + "uploads/none").isEmpty());
    store().delete(prefix + "uploads/none");
  }

  @Test
  void tooLargeAStreamIsRefusedAndNothingIsStored() throws IOException {
    byte[] content = new byte[1000];
    assertThrows(
        TooLargeException.class,
        () -> store().put(prefix + "uploads/big", new ByteArrayInputStream(content), 999, null));
    assertTrue(store().open(prefix + "uploads/big").isEmpty());
  }

  @Test
  void deletedObjectsAreGone() throws IOException {
    store().put(prefix + "outputs/o1", new ByteArrayInputStream(new byte[] {1}), 10, null);
    store().delete(prefix + "outputs/o1");
    assertTrue(store().open(prefix + "outputs/o1").isEmpty());
  }

  @Test
  void listGivesKeysUnderAPrefixInOrderPageByPage() throws IOException {
    for (String k : List.of("outputs/c", "uploads/a", "uploads/b")) {
      store().put(prefix + k, new ByteArrayInputStream(new byte[] {7, 7}), 10, null);
    }
    store()
        .put(
            "sessions/" + Ids.next() + "/uploads/z",
            new ByteArrayInputStream(new byte[1]),
            10,
            null);
    List<ObjectStore.ObjectSummary> first = store().list(prefix, null, 2);
    assertEquals(
        List.of(prefix + "outputs/c", prefix + "uploads/a"),
        first.stream().map(ObjectStore.ObjectSummary::key).toList());
    assertEquals(2, first.get(0).size());
    List<ObjectStore.ObjectSummary> rest = store().list(prefix, first.get(1).key(), 2);
    assertEquals(
        List.of(prefix + "uploads/b"), rest.stream().map(ObjectStore.ObjectSummary::key).toList());
    assertTrue(store().list("sessions/" + Ids.next() + "/", null, 10).isEmpty());
  }

  /**
   * Pages of any size, each continuing after the last key of the one before, join into the whole
   * listing in key order; a cursor or a prefix that ends inside a name works as well. The names
   * sort differently as names than as keys: "a/1" is before "a-b/1" ('-' is before '/'), "a.c" too.
   */
  @Test
  void pagesOverATreeJoinIntoTheWholeListingInKeyOrder() throws IOException {
    List<String> keys =
        List.of("a-b/1", "a/1", "a/2/x", "a/2/y", "a.c", "a0", "ab", "b/c/d", "b/c0", "b0");
    for (String k : keys) {
      store().put(prefix + k, new ByteArrayInputStream(new byte[] {1}), 10, null);
    }
    List<String> sorted = keys.stream().map(k -> prefix + k).sorted().toList();
    assertEquals(sorted, keysOf(store().list(prefix, null, 100)));
    for (int size = 1; size <= 4; size++) {
      List<String> joined = new java.util.ArrayList<>();
      String after = null;
      List<ObjectStore.ObjectSummary> page;
      do {
        page = store().list(prefix, after, size);
        assertTrue(page.size() <= size);
        joined.addAll(keysOf(page));
        after = page.isEmpty() ? after : page.get(page.size() - 1).key();
      } while (page.size() == size);
      assertEquals(sorted, joined, "pages of " + size);
    }
    assertEquals(
        sorted.stream().filter(k -> k.compareTo(prefix + "a/") > 0).toList(),
        keysOf(store().list(prefix, prefix + "a/", 100)));
    assertEquals(
        sorted.stream().filter(k -> k.startsWith(prefix + "a")).toList(),
        keysOf(store().list(prefix + "a", null, 100)));
    assertEquals(
        List.of(prefix + "b/c/d", prefix + "b/c0"),
        keysOf(store().list(prefix + "b/c", null, 100)));
  }

  private static List<String> keysOf(List<ObjectStore.ObjectSummary> page) {
    return page.stream().map(ObjectStore.ObjectSummary::key).toList();
  }
}
