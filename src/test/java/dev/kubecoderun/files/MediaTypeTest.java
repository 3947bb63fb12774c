package dev.kubecoderun.files;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Which Content-Types of an upload are kept: media types that can go out as a header as sent. */
class MediaTypeTest {
  @ParameterizedTest
  @ValueSource(
      strings = {
        "text/plain",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "image/svg+xml",
        "text/csv; charset=utf-8",
        "text/csv;charset=\"utf-8\"; header=present",
        "text/plain; name=\"a \\\"quoted\\\" name\"",
        "multipart/mixed; boundary=abc;"
      })
  void aMediaTypeIsKeptAsSent(String type) {
    assertEquals(type, MediaType.orUnknown(type));
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "",
        "text",
        "text/",
        "/plain",
        "text/plain; x=é",
        "text/plain\rX-Injected: 1",
        "text/plain\nX-Injected: 1",
        "text/plain; x=\"é\"",
        "text/plain; x=\"unterminated",
        "text/plain; x",
        "text plain",
        "text/pl\u0000ain",
        "téxt/plain"
      })
  void anythingElseIsStoredAsOctetStream(String type) {
    assertEquals("application/octet-stream", MediaType.orUnknown(type));
  }

  @org.junit.jupiter.api.Test
  void noneAndOneLongerThan255CharactersAreNotKept() {
    assertEquals("application/octet-stream", MediaType.orUnknown(null));
    String longest = "text/" + "x".repeat(250);
    assertEquals(longest, MediaType.orUnknown(longest));
    assertEquals("application/octet-stream", MediaType.orUnknown(longest + "x"));
  }
}
