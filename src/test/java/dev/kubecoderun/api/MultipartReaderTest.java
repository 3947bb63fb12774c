package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MultipartReaderTest {
  private static final String B = "----boundary42";

  private static byte[] body(byte[] fileBytes) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(
        ("preamble\r\n--"
                + B
                + "\r\n"
                + "Content-Disposition: form-data; name=\"entity_id\"\r\n\r\n"
                + "asst_1\r\n--"
                + B
                + "\r\n"
                + "Content-Disposition: form-data; name=\"file\"; filename=\"data set.csv\"\r\n"
                + "Content-Type: text/csv\r\n\r\n")
            .getBytes(StandardCharsets.UTF_8));
    out.write(fileBytes);
    out.write(("\r\n--" + B + "--\r\n").getBytes(StandardCharsets.UTF_8));
    return out.toByteArray();
  }

  /** Hands out at most a few bytes per read, like a slow network. */
  private static InputStream trickle(byte[] bytes) {
    return new ByteArrayInputStream(bytes) {
      @Override
      public synchronized int read(byte[] b, int off, int len) {
        return super.read(b, off, Math.min(len, 7));
      }
    };
  }

  @Test
  void readsFieldsAndFileBytesExactlyEvenWhenTheyLookLikeBoundaries() throws IOException {
    byte[] file = new byte[200_000];
    new Random(1).nextBytes(file);
    // Plant near-misses of the delimiter inside the content.
    byte[] nearMiss =
        ("\r\n--" + B.substring(0, B.length() - 1) + "X").getBytes(StandardCharsets.UTF_8);
    System.arraycopy(nearMiss, 0, file, 1000, nearMiss.length);
    System.arraycopy(nearMiss, 0, file, file.length - nearMiss.length, nearMiss.length);

    MultipartReader r = new MultipartReader(trickle(body(file)), B);
    MultipartReader.Part field = r.next();
    assertEquals("entity_id", field.name());
    assertNull(field.filename());
    assertEquals("asst_1", field.text(100));
    MultipartReader.Part part = r.next();
    assertEquals("file", part.name());
    assertEquals("data set.csv", part.filename());
    assertEquals("text/csv", part.contentType());
    assertArrayEquals(file, part.body().readAllBytes());
    assertNull(r.next());
  }

  @Test
  void skipsAPartNobodyRead() throws IOException {
    MultipartReader r = new MultipartReader(new ByteArrayInputStream(body(new byte[5000])), B);
    r.next();
    r.next();
    assertNull(r.next());
  }

  @Test
  void aTruncatedBodyIsABadRequest() throws IOException {
    byte[] full = body("hello".getBytes(StandardCharsets.UTF_8));
    byte[] cut = java.util.Arrays.copyOf(full, full.length - 12);
    MultipartReader r = new MultipartReader(new ByteArrayInputStream(cut), B);
    r.next();
    MultipartReader.Part part = r.next();
    ApiError e = assertThrows(ApiError.class, () -> part.body().readAllBytes());
    assertEquals(400, e.status());
  }

  @Test
  void findsTheBoundaryOnlyInMultipartFormData() {
    assertEquals("abc", MultipartReader.boundaryOf("multipart/form-data; boundary=abc"));
    assertEquals("a b", MultipartReader.boundaryOf("multipart/form-data; boundary=\"a b\""));
    assertNull(MultipartReader.boundaryOf("application/json"));
    assertNull(MultipartReader.boundaryOf("multipart/form-data"));
    assertNull(MultipartReader.boundaryOf(null));
  }

  @Test
  void decodesExtendedFilenames() throws IOException {
    String b =
        "--"
            + B
            + "\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt\r\n\r\nx\r\n--"
            + B
            + "--";
    MultipartReader r =
        new MultipartReader(new ByteArrayInputStream(b.getBytes(StandardCharsets.UTF_8)), B);
    assertEquals("résumé.txt", r.next().filename());
  }

  @Test
  void malformedExtendedFilenamesAreBadRequests() {
    for (String name : List.of("%zz.txt", "a%4", "a%", "résumé.txt", "a%4g")) {
      String b =
          "--"
              + B
              + "\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''"
              + name
              + "\r\n\r\nx\r\n--"
              + B
              + "--";
      MultipartReader r =
          new MultipartReader(new ByteArrayInputStream(b.getBytes(StandardCharsets.UTF_8)), B);
      ApiError e = assertThrows(ApiError.class, r::next, name);
      assertEquals(400, e.status(), name);
    }
  }
}
