package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class ByteRangeTest {
  private static ByteRange range(String header, long size) {
    return ByteRange.parse(header, size).orElseThrow();
  }

  @Test
  void theThreeFormsOfASingleRange() {
    assertEquals(new ByteRange(0, 1), range("bytes=0-0", 100));
    assertEquals(new ByteRange(10, 11), range("bytes=10-20", 100));
    assertEquals(new ByteRange(90, 10), range("bytes=90-", 100));
    assertEquals(new ByteRange(70, 30), range("bytes=-30", 100));
    assertEquals("bytes 10-20/100", range("bytes=10-20", 100).contentRange(100));
  }

  @Test
  void rangesPastTheEndAreCutAtTheEnd() {
    assertEquals(new ByteRange(95, 5), range("bytes=95-1000", 100));
    assertEquals(new ByteRange(0, 100), range("bytes=-1000", 100));
    assertEquals(new ByteRange(99, 1), range("bytes=99-99999999999999999999999", 100));
    assertEquals(new ByteRange(5, 10), range(" Bytes = 5-14 ", 100));
  }

  @Test
  void whatIsNotOneWellFormedByteRangeMeansTheWholeFile() {
    for (String h :
        new String[] {
          null,
          "",
          "bytes",
          "bytes=",
          "bytes=-",
          "items=0-1",
          "bytes=0-1,3-4",
          "bytes=5-4",
          "bytes=a-b",
          "bytes=1-2-3",
          "bytes=+1-2",
          "bytes=0x1-2"
        }) {
      assertEquals(Optional.empty(), ByteRange.parse(h, 100), h);
    }
  }

  @Test
  void aRangeStartingAtOrPastTheEndIs416WithTheSize() {
    for (String h :
        new String[] {"bytes=100-", "bytes=100-200", "bytes=-0", "bytes=99999999999999999999-"}) {
      ApiError e = assertThrows(ApiError.class, () -> ByteRange.parse(h, 100), h);
      assertEquals(416, e.status());
      assertEquals("bytes */100", e.headers().get("Content-Range"));
    }
    ApiError empty = assertThrows(ApiError.class, () -> ByteRange.parse("bytes=-5", 0));
    assertTrue(empty.headers().get("Content-Range").endsWith("/0"));
    assertThrows(ApiError.class, () -> ByteRange.parse("bytes=0-", 0));
  }
}
