package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpRequest;
import java.util.List;
import java.util.Map;
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
  void aLibreChatBearerTokenIsAcceptedBesideTheKeys() {
    String code = "{\"lang\":\"bash\",\"code\":\"echo ok\"}";
    String token = TestServer.TOKENS.token("acme", "user_123");
    TestServer.Reply r = exec(bare().header("Authorization", "Bearer " + token), code);
    assertEquals(200, r.status(), r.body());
    assertEquals(
        200, exec(bare().header("Authorization", "Bearer " + token), code).status(), "again");
  }

  @Test
  void aBadTokenIs401WithItsReasonAndNoKeyMaterial() {
    String code = "{\"lang\":\"bash\",\"code\":\"echo ok\"}";
    Map<String, String> cases = new java.util.LinkedHashMap<>();
    cases.put(
        "expired",
        TestServer.TOKENS.token(
            Map.of("tenant_id", "acme"), java.time.Instant.now().minusSeconds(400), 300));
    cases.put(
        "wrong_audience",
        TestServer.TOKENS.token(Map.of("aud", "other"), java.time.Instant.now(), 300));
    cases.put(
        "bad_signature",
        dev.kubecoderun.testing.LibreChatTokens.ed25519(dev.kubecoderun.testing.LibreChatTokens.KID)
            .token("acme", "u1"));
    cases.put(
        "unknown_kid",
        dev.kubecoderun.testing.LibreChatTokens.ed25519("another-kid").token("acme", "u1"));
    String pem = TestServer.TOKENS.publicPem();
    String keyBody = pem.split("\n")[1].substring(0, 20);
    cases.forEach(
        (reason, token) -> {
          TestServer.Reply r = exec(bare().header("Authorization", "Bearer " + token), code);
          JsonNode e = Errors.assertError(r, 401, "authentication");
          assertEquals(reason, e.path("details").path(0).path("code").asText(), r.body());
          assertFalse(r.body().contains(keyBody), r.body());
          assertFalse(r.body().contains(token.substring(token.lastIndexOf('.') + 1)), r.body());
        });
    JsonNode missing = Errors.assertError(exec(bare(), code), 401, "authentication");
    assertEquals("missing_credentials", missing.path("details").path(0).path("code").asText());
  }

  @Test
  void theServerIsTheDefaultProfileAndRefusesAnother() {
    String code = "{\"lang\":\"bash\",\"code\":\"echo ok\"}";
    TestServer.Reply ok =
        exec(
            bare()
                .header("X-API-Key", TestServer.KEY)
                .header("X-CodeAPI-Expected-Profile", "default"),
            code);
    assertEquals(200, ok.status(), ok.body());
    assertEquals("default", ok.header("X-CodeAPI-Execution-Profile"));
    TestServer.Reply other =
        exec(
            bare()
                .header("X-API-Key", TestServer.KEY)
                .header("X-CodeAPI-Expected-Profile", "stateful"),
            code);
    JsonNode e = Errors.assertError(other, 409, "resource_conflict");
    assertEquals("execution_profile_mismatch", e.path("error").asText());
    assertEquals("execution_profile_mismatch", e.path("code").asText());
    assertEquals("default", other.header("X-CodeAPI-Execution-Profile"));
    // A second header expecting another profile is not hidden by a first that expects this one.
    TestServer.Reply twice =
        exec(
            bare()
                .header("X-API-Key", TestServer.KEY)
                .header("X-CodeAPI-Expected-Profile", "default")
                .header("X-CodeAPI-Expected-Profile", "stateful"),
            code);
    assertEquals(
        "execution_profile_mismatch",
        Errors.assertError(twice, 409, "resource_conflict").path("code").asText());
    JsonNode workspace =
        Errors.assertError(
            exec(
                bare()
                    .header("X-API-Key", TestServer.KEY)
                    .header("X-LibreChat-Code-Workspace-ID", "ws-1"),
                code),
            409,
            "resource_conflict");
    assertEquals("stateful_workspace_unsupported", workspace.path("code").asText());
  }

  /**
   * An empty workspace or worker header names none, as an empty expected profile asserts none: the
   * request is served. One with an id is refused.
   */
  @Test
  void anEmptyWorkspaceOrWorkerHeaderIsIgnored() {
    for (String header :
        List.of(
            "X-LibreChat-Code-Workspace-ID",
            "X-LibreChat-Code-Worker-ID",
            "X-CodeAPI-Expected-Profile")) {
      TestServer.Reply empty =
          server.send(
              HttpRequest.newBuilder(server.base.resolve("/health")).header(header, "").GET());
      assertEquals(200, empty.status(), header + ": " + empty.body());
      TestServer.Reply named =
          server.send(
              HttpRequest.newBuilder(server.base.resolve("/health")).header(header, "ws-1").GET());
      Errors.assertError(named, 409, "resource_conflict");
    }
  }

  /**
   * The profile refusal comes before any route's own handling: the open routes and the operator's
   * refuse too, as the document says (every answer here is checked against it).
   */
  @Test
  void theOpenAndOperatorRoutesRefuseAnotherProfileToo() {
    for (String path :
        List.of(
            "/health",
            "/v1/ready",
            "/metrics",
            "/admin-dashboard",
            "/admin-dashboard/",
            "/admin-dashboard/dashboard.js",
            "/openapi.json",
            "/docs",
            "/docs/",
            "/docs/docs.js")) {
      TestServer.Reply r =
          server.send(
              HttpRequest.newBuilder(server.base.resolve(path))
                  .header("X-CodeAPI-Expected-Profile", "stateful")
                  .GET());
      JsonNode e = Errors.assertError(r, 409, "resource_conflict");
      assertEquals("execution_profile_mismatch", e.path("code").asText(), path);
    }
  }

  @Test
  void aKeyInTheBodyIsOnlyLookedForInTheFirstMebibyte() {
    StringBuilder big = new StringBuilder("{\"lang\":\"bash\",\"code\":\"echo ok\",\"pad\":\"");
    big.append("x".repeat(1 << 20))
        .append("\",\"api_key\":\"")
        .append(TestServer.KEY)
        .append("\"}");
    JsonNode e = Errors.assertError(exec(bare(), big.toString()), 401, "authentication");
    assertTrue(e.path("error").asText().contains("X-API-Key"), e.toString());
    // With the key in a header the same body is fine (under MAX_REQUEST_BODY_MB).
    assertEquals(200, exec(bare().header("X-API-Key", TestServer.KEY), big.toString()).status());
    // A body that is not an object carries no key: refused at its first byte.
    Errors.assertError(exec(bare(), "[" + "{},".repeat(100_000) + "{}]"), 401, "authentication");
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
    // With a master key set, an API key sees each service's status, not its details (internal
    // hosts, store errors, what a sandbox reached): those are the operator's, in the admin stats.
    assertEquals(
        "healthy",
        detailed.path("services").path("sandbox").path("status").asText(),
        detailed.toString());
    assertTrue(
        detailed.path("services").path("sandbox").path("details").isMissingNode(),
        detailed.toString());
    var stats = server.send(AdminApiTest.admin(server, "/api/v1/admin/stats")).json();
    assertEquals(
        "local",
        stats
            .path("health")
            .path("services")
            .path("sandbox")
            .path("details")
            .path("backend")
            .asText(),
        stats.toString());
  }
}
