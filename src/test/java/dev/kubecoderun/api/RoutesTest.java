package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kubecoderun.config.Config;
import io.helidon.http.Method;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RoutesTest {
  private final Routes routes = ofTheRealServices();

  /**
   * The routes of the real services, as the server gets them (their routing needs none of their
   * parts).
   */
  static Routes ofTheRealServices() {
    return Routes.of(
        Endpoints.all(
            null,
            null,
            null,
            null,
            null,
            null,
            null,
            null,
            Config.from(Map.of("AUTH_ENABLED", "false")),
            "test",
            () -> null,
            List.of(),
            new Endpoints.Operations(null, null, null, null, null, null, null)));
  }

  @Test
  void aKnownPathWithAnotherMethodIs405WithAllow() {
    ApiError e = routes.unmatched(Method.GET, "/v1/exec");
    assertEquals(405, e.status());
    assertEquals("validation", e.errorType(), "the request's method is wrong, not the path");
    assertEquals("POST", e.headers().get("Allow"));
    ApiError download = routes.unmatched(Method.DELETE, "/download/s1/f1");
    assertEquals(405, download.status());
    assertEquals("GET, HEAD, OPTIONS", download.headers().get("Allow"));
    assertEquals(
        "DELETE, GET, POST", routes.unmatched(Method.PUT, "/state/s1").headers().get("Allow"));
    assertEquals("DELETE", routes.unmatched(Method.GET, "/files/s1/f1").headers().get("Allow"));
  }

  @Test
  void anUnknownPathIs404() {
    assertEquals(404, routes.unmatched(Method.GET, "/nope").status());
    assertEquals(404, routes.unmatched(Method.POST, "/v1/files/a/b/c").status());
  }

  @Test
  void stripsTheVersionPrefix() {
    assertEquals("/exec", Routes.withoutVersion("/v1/exec"));
    assertEquals("/exec", Routes.withoutVersion("/exec"));
    assertEquals("/v10/exec", Routes.withoutVersion("/v10/exec"));
  }
}
