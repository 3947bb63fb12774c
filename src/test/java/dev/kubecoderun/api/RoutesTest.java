package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.helidon.http.Method;
import org.junit.jupiter.api.Test;

class RoutesTest {
  @Test
  void aKnownPathWithAnotherMethodIs405WithAllow() {
    ApiError e = Routes.unmatched(Method.GET, "/v1/exec");
    assertEquals(405, e.status());
    assertEquals("POST", e.headers().get("Allow"));
  }

  @Test
  void anUnknownPathIs404() {
    assertEquals(404, Routes.unmatched(Method.GET, "/nope").status());
    assertEquals(404, Routes.unmatched(Method.POST, "/v1/files/a/b/c").status());
  }

  @Test
  void stripsTheVersionPrefix() {
    assertEquals("/exec", Routes.withoutVersion("/v1/exec"));
    assertEquals("/exec", Routes.withoutVersion("/exec"));
    assertEquals("/v10/exec", Routes.withoutVersion("/v10/exec"));
  }
}
