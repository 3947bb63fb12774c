package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.http.HttpRequest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Every way LibreChat generations send the key, and the open health routes. */
@Tag("integration")
class AuthTest {
  private final TestServer server = TestServer.get();

  private TestServer.Reply exec(HttpRequest.Builder req, String body) {
    return server.send(
        req.header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body)));
  }

  private HttpRequest.Builder bare() {
    return HttpRequest.newBuilder(server.base.resolve("/v1/exec"));
  }

  @Test
  void acceptsHeaderBearerApiKeyAndBodyKeys() {
    String code = "{\"lang\":\"bash\",\"code\":\"echo ok\"";
    assertEquals(200, exec(bare().header("X-API-Key", TestServer.KEY), code + "}").status());
    assertEquals(
        200, exec(bare().header("Authorization", "Bearer " + TestServer.KEY), code + "}").status());
    assertEquals(
        200, exec(bare().header("Authorization", "ApiKey " + TestServer.KEY), code + "}").status());
    assertEquals(
        200,
        exec(bare(), code + ",\"LIBRECHAT_CODE_API_KEY\":\"" + TestServer.KEY + "\"}").status());
    assertEquals(200, exec(bare(), code + ",\"apiKey\":\"" + TestServer.KEY + "\"}").status());
    Errors.assertError(
        exec(bare(), code + ",\"api_key\":\"nope-nope-nope-nope\"}"), 401, "authentication");
  }

  @Test
  void healthAndReadinessNeedNoKeyButDetailedHealthDoes() {
    assertEquals(
        200, server.send(HttpRequest.newBuilder(server.base.resolve("/health")).GET()).status());
    assertEquals(
        200, server.send(HttpRequest.newBuilder(server.base.resolve("/v1/ready")).GET()).status());
    Errors.assertError(
        server.send(HttpRequest.newBuilder(server.base.resolve("/health/detailed")).GET()),
        401,
        "authentication");
    var detailed = server.get("/health/detailed").json();
    assertEquals("healthy", detailed.path("status").asText(), detailed.toString());
    assertEquals(
        "local",
        detailed.path("services").path("sandbox").path("details").path("backend").asText());
  }
}
