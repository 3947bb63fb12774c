package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.testing.Eventually;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The admin API on a real server: only the master key opens it, keys are created (secret once),
 * changed and revoked with an effect on the very next request, and executions show up in usage.
 */
@Tag("integration")
class AdminApiTest {
  private final TestServer server = TestServer.get();

  static HttpRequest.Builder admin(TestServer s, String path) {
    return HttpRequest.newBuilder(s.base.resolve(path)).header("X-API-Key", TestServer.MASTER);
  }

  static TestServer.Reply adminJson(TestServer s, String method, String path, String json) {
    return s.send(
        admin(s, path)
            .header("Content-Type", "application/json")
            .method(method, HttpRequest.BodyPublishers.ofString(json)));
  }

  /** A new managed API key named {@code name} (its secret), made through the admin API. */
  static String newApiKey(TestServer s, String name) {
    TestServer.Reply created =
        adminJson(s, "POST", "/api/v1/admin/keys", "{\"name\":\"" + name + "\"}");
    assertEquals(200, created.status(), created.body());
    return created.json().get("api_key").asText();
  }

  /** GET /languages with {@code key}: cheap, and authenticated like every API route. */
  private int useKey(String key) {
    return server
        .send(HttpRequest.newBuilder(server.base.resolve("/v1/languages")).header("X-API-Key", key))
        .status();
  }

  /** GET {@code path} with the one header {@code header: value}. */
  private TestServer.Reply getWith(String path, String header, String value) {
    return new TestServer.Caller(server, header, value).get(path);
  }

  @Test
  void onlyTheMasterKeyOpensTheAdminApiAndItOpensNothingElse() {
    HttpRequest.Builder none = HttpRequest.newBuilder(server.base.resolve("/api/v1/admin/keys"));
    Errors.assertError(server.send(none), 401, "authentication");
    Errors.assertError(
        getWith("/api/v1/admin/keys", "X-API-Key", TestServer.KEY), 403, "authorization");
    Errors.assertError(
        getWith("/api/v1/admin/usage", "Authorization", "Bearer " + TestServer.KEY),
        403,
        "authorization");
    assertEquals(200, server.send(admin(server, "/api/v1/admin/keys")).status());
    assertEquals(
        200,
        getWith("/api/v1/admin/pools", "Authorization", "Bearer " + TestServer.MASTER).status());
    assertEquals(
        200,
        getWith("/api/v1/admin/pools", "Authorization", "bearer " + TestServer.MASTER).status(),
        "the scheme's name in any case, as for API keys");
    assertEquals(
        200,
        getWith("/api/v1/admin/pools", "Authorization", "ApiKey " + TestServer.MASTER).status(),
        "found in the headers the way an API key is");
    assertEquals(
        403,
        getWith("/api/v1/admin/pools", "Authorization", "ApiKey " + TestServer.KEY).status(),
        "an API key sent that way is still no master key");
    assertEquals(401, useKey(TestServer.MASTER), "the master key is no API key");
    assertEquals(
        401,
        getWith("/v1/languages", "Authorization", "Bearer " + TestServer.MASTER).status(),
        "nor a bearer token");
  }

  @Test
  void aLibreChatUserIsNoAdminAndItsRunsAreCountedUnderItsPrincipal() throws InterruptedException {
    String sub = "usage-" + dev.kubecoderun.session.Ids.next();
    TestServer.Caller user = server.asUser("acme", sub);
    Errors.assertError(user.get("/api/v1/admin/keys"), 403, "authorization");
    Errors.assertError(user.get("/metrics"), 403, "authorization");
    assertEquals(200, user.exec(Map.of("lang", "bash", "code", "echo ok")).status());

    String subject = Principal.jwt("acme", sub).shortId();
    // A run's usage is recorded just after its answer.
    JsonNode all =
        Eventually.until(
            "the run's usage recorded",
            Duration.ofSeconds(10),
            () -> server.send(admin(server, "/api/v1/admin/usage?hours=1")).json(),
            a -> a.get("by_api_key").findValuesAsText("api_key_hash").contains(subject));
    boolean found = false;
    for (JsonNode k : all.get("by_api_key")) {
      if (k.get("api_key_hash").asText().equals(subject)) {
        found = true;
        assertEquals(1, k.get("executions").asInt(), k.toString());
      }
    }
    assertTrue(found, subject + " in " + all);
  }

  @Test
  void aKeyIsCreatedShownOnceChangedAndRevokedAtOnce() {
    TestServer.Reply created =
        adminJson(
            server,
            "POST",
            "/api/v1/admin/keys",
            "{\"name\":\"ci app\",\"rate_limits\":{\"per_minute\":1000},\"metadata\":{\"team\":\"qa\"}}");
    assertEquals(200, created.status(), created.body());
    assertEquals("no-store", created.header("Cache-Control"));
    String secret = created.json().get("api_key").asText();
    JsonNode record = created.json().get("record");
    String hash = record.get("key_hash").asText();
    assertTrue(secret.matches("sk-[A-Za-z0-9_-]{32}"), secret);
    assertEquals(ManagedApiKeys.sha256Hex(secret), hash, "only the hash is kept, and it is this");
    assertEquals(secret.substring(0, 11), record.get("key_prefix").asText());
    assertEquals(1000, record.at("/rate_limits/per_minute").asInt());
    assertTrue(record.at("/rate_limits/hourly").isNull());
    assertEquals("qa", record.at("/metadata/team").asText());
    assertEquals("managed", record.get("source").asText());

    TestServer.Reply list = server.send(admin(server, "/api/v1/admin/keys"));
    assertEquals("no-store", list.header("Cache-Control"), "no answer of the admin API is kept");
    assertEquals(
        "no-store", server.send(admin(server, "/api/v1/admin/usage")).header("Cache-Control"));
    assertFalse(list.body().contains(secret), "the secret is never listed");
    assertTrue(list.body().contains(hash));
    assertTrue(list.body().contains("\"source\":\"environment\""), "env keys listed read-only");

    assertEquals(200, useKey(secret));
    assertEquals(200, useKey(secret));
    JsonNode shown = server.send(admin(server, "/api/v1/admin/keys/" + hash)).json();
    assertEquals(2, shown.get("usage_count").asInt());
    assertTrue(shown.get("last_used_at").isTextual());

    TestServer.Reply disabled =
        adminJson(server, "PATCH", "/api/v1/admin/keys/" + hash, "{\"enabled\":false}");
    assertEquals("true", disabled.body());
    assertEquals(401, useKey(secret), "disabled: refused by the very next request");
    adminJson(
        server, "PATCH", "/api/v1/admin/keys/" + hash, "{\"enabled\":true,\"name\":\"renamed\"}");
    assertEquals(200, useKey(secret));
    assertEquals(
        "renamed",
        server.send(admin(server, "/api/v1/admin/keys/" + hash)).json().get("name").asText());

    assertEquals("true", server.send(admin(server, "/api/v1/admin/keys/" + hash).DELETE()).body());
    assertEquals(401, useKey(secret), "revoked: refused by the very next request");
    Errors.assertError(
        server.send(admin(server, "/api/v1/admin/keys/" + hash)), 404, "resource_not_found");
    Errors.assertError(
        server.send(admin(server, "/api/v1/admin/keys/" + hash).DELETE()),
        404,
        "resource_not_found");
  }

  @Test
  void rateLimitsOfAKeyAreEnforcedAndReplaced() {
    JsonNode created =
        adminJson(
                server,
                "POST",
                "/api/v1/admin/keys",
                "{\"name\":\"limited\",\"rate_limits\":{\"per_minute\":2}}")
            .json();
    String secret = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();
    assertEquals(200, useKey(secret));
    assertEquals(200, useKey(secret));
    assertEquals(429, useKey(secret));
    adminJson(
        server, "PATCH", "/api/v1/admin/keys/" + hash, "{\"rate_limits\":{\"per_minute\":100}}");
    assertEquals(200, useKey(secret));
    server.send(admin(server, "/api/v1/admin/keys/" + hash).DELETE());
  }

  @Test
  void badRequestsAndEnvKeysAreRefused() {
    Errors.assertError(adminJson(server, "POST", "/api/v1/admin/keys", "{}"), 422, "validation");
    Errors.assertError(
        adminJson(
            server, "POST", "/api/v1/admin/keys", "{\"name\":\"x\",\"rate_limits\":{\"daily\":0}}"),
        422,
        "validation");
    Errors.assertError(
        adminJson(server, "POST", "/api/v1/admin/keys", "{\"name\":\"x\",\"metadata\":{\"a\":1}}"),
        422,
        "validation");
    Errors.assertError(
        adminJson(server, "PATCH", "/api/v1/admin/keys/" + "0".repeat(64), "{\"enabled\":false}"),
        404,
        "resource_not_found");
    String envHash = ManagedApiKeys.sha256Hex(TestServer.KEY);
    Errors.assertError(
        adminJson(server, "PATCH", "/api/v1/admin/keys/" + envHash, "{\"enabled\":false}"),
        403,
        "authorization");
    Errors.assertError(
        server.send(admin(server, "/api/v1/admin/keys/" + envHash).DELETE()), 403, "authorization");
    assertEquals(200, useKey(TestServer.KEY));
    Errors.assertError(
        server.send(admin(server, "/api/v1/admin/usage?hours=0")), 422, "validation");
    Errors.assertError(
        server.send(admin(server, "/api/v1/admin/metrics/summary?period=year")), 422, "validation");
  }

  /**
   * A field or rate-limit window the admin API does not know is refused (422 naming it), never
   * ignored: a misspelt PATCH would answer 200 and change nothing, a misspelt window would leave
   * the key unlimited. A PATCH naming nothing to change is refused too. Nothing is changed. (A
   * POST's unknown fields and windows: badQueriesAndBodiesNameTheFieldTheyRefuse.)
   */
  @Test
  void unknownFieldsAndWindowsAndEmptyChangesAreRefusedNotIgnored() {
    String name = "strict " + System.nanoTime();
    JsonNode created =
        adminJson(
                server,
                "POST",
                "/api/v1/admin/keys",
                "{\"name\":\"" + name + "\",\"rate_limits\":{\"per_minute\":5}}")
            .json();
    String hash = created.at("/record/key_hash").asText();
    String path = "/api/v1/admin/keys/" + hash;
    Map<String, String> patches = new java.util.LinkedHashMap<>();
    patches.put("{\"enable\":false}", "enable");
    patches.put("{\"rate_limits\":{\"per_hour\":100}}", "rate_limits.per_hour");
    patches.put("{\"enabled\":false,\"metadata\":{\"a\":\"b\"}}", "metadata");
    patches.put("{}", "body");
    patches.put("{\"name\":null,\"enabled\":null,\"rate_limits\":null}", "body");
    patches.forEach(
        (json, field) ->
            assertEquals(
                field,
                Errors.assertError(adminJson(server, "PATCH", path, json), 422, "validation")
                    .at("/details/0/field")
                    .asText(),
                json));
    JsonNode unchanged = server.send(admin(server, path)).json();
    assertTrue(unchanged.get("enabled").asBoolean(), "still enabled");
    assertEquals(5, unchanged.at("/rate_limits/per_minute").asInt(), "limits as they were");
    assertEquals(
        "true", adminJson(server, "PATCH", path, "{\"rate_limits\":{\"hourly\":100}}").body());
    assertEquals(100, server.send(admin(server, path)).json().at("/rate_limits/hourly").asInt());
    server.send(admin(server, path).DELETE());
  }

  /** Each bad query parameter or body of the admin API: a 4xx naming the field it refused. */
  @Test
  void badQueriesAndBodiesNameTheFieldTheyRefuse() {
    String longName = "n".repeat(201);
    Map<String, String> queries = new java.util.LinkedHashMap<>();
    queries.put("/api/v1/admin/usage?hours=abc", "hours");
    queries.put("/api/v1/admin/usage?hours=100000", "hours");
    queries.put("/api/v1/admin/usage?api_key_hash=xyz", "api_key_hash");
    queries.put("/api/v1/admin/usage?language=cobol", "language");
    queries.put("/api/v1/admin/usage/live?minutes=121", "minutes");
    queries.put("/api/v1/admin/usage/live?language=cobol", "language");
    queries.put("/api/v1/admin/failures?limit=0", "limit");
    queries.put("/api/v1/admin/stats?hours=169", "hours");
    queries.put("/api/v1/admin/metrics/languages?start_date=yesterday", "start_date");
    queries.put(
        "/api/v1/admin/metrics/time-series?start_date=2026-03-02T10:00:00Z"
            + "&end_date=2026-03-01T10:00:00Z",
        "start_date");
    queries.put("/api/v1/admin/metrics/heatmap?period=year", "period");
    queries.put("/api/v1/admin/metrics/api-keys?end_date=2026-13-01T00:00:00", "end_date");
    queries.put("/api/v1/admin/metrics/top-languages?limit=21", "limit");
    queries.put("/api/v1/admin/metrics/summary?api_key_hash=" + "A".repeat(16), "api_key_hash");
    queries.forEach(
        (path, field) ->
            assertEquals(
                field,
                Errors.assertError(server.send(admin(server, path)), 422, "validation")
                    .at("/details/0/field")
                    .asText(),
                path));

    String refused = "refused " + System.nanoTime();
    Map<String, String> bodies = new java.util.LinkedHashMap<>();
    bodies.put("[]", "body");
    bodies.put("{\"name\":\"   \"}", "name");
    bodies.put("{\"name\":\"" + longName + "\"}", "name");
    bodies.put("{\"name\":\"x\",\"rate_limits\":[1]}", "rate_limits");
    bodies.put("{\"name\":\"x\",\"rate_limits\":{\"hourly\":1.5}}", "rate_limits.hourly");
    bodies.put("{\"name\":\"x\",\"metadata\":[]}", "metadata");
    // An unknown window or field is refused, not ignored (the key would be unlimited, or enabled).
    bodies.put(
        "{\"name\":\"" + refused + "\",\"rate_limits\":{\"per_hour\":100}}",
        "rate_limits.per_hour");
    bodies.put("{\"name\":\"" + refused + "\",\"enabled\":false}", "enabled");
    bodies.forEach(
        (json, field) ->
            assertEquals(
                field,
                Errors.assertError(
                        adminJson(server, "POST", "/api/v1/admin/keys", json), 422, "validation")
                    .at("/details/0/field")
                    .asText(),
                json));
    assertFalse(
        server.send(admin(server, "/api/v1/admin/keys")).body().contains(refused), "none created");
    Errors.assertError(
        adminJson(server, "POST", "/api/v1/admin/keys", "{\"name\":"), 400, "validation");

    String envHash = ManagedApiKeys.sha256Hex(TestServer.KEY);
    Errors.assertError(
        adminJson(server, "PATCH", "/api/v1/admin/keys/" + envHash, "{\"enabled\":\"no\"}"),
        422,
        "validation");
    Errors.assertError(
        adminJson(server, "PATCH", "/api/v1/admin/keys/" + envHash, "{\"name\":\" \"}"),
        422,
        "validation");
    Errors.assertError(
        adminJson(server, "PATCH", "/api/v1/admin/keys/" + envHash, "{\"name\":\"\"}"),
        422,
        "validation");
    assertEquals(200, useKey(TestServer.KEY), "a refused change changed nothing");
    for (String path :
        List.of(
            "/api/v1/admin/keys/not-a-hash",
            "/api/v1/admin/keys/" + "0".repeat(64) + "/usage",
            "/api/v1/admin/keys/not-a-hash/usage")) {
      Errors.assertError(server.send(admin(server, path)), 404, "resource_not_found");
    }
  }

  /** The listed record of the env key (API_KEY) of the test server. */
  private JsonNode envKeyListed() {
    String hash = ManagedApiKeys.sha256Hex(TestServer.KEY);
    for (JsonNode k : server.send(admin(server, "/api/v1/admin/keys")).json()) {
      if (k.path("key_hash").asText().equals(hash)) {
        assertEquals("environment", k.path("source").asText());
        return k;
      }
    }
    throw new AssertionError("the env key is not listed");
  }

  /**
   * The key store keeps no count of an env key's use (API_KEY, API_KEYS): the listing shows what
   * usage recorded of it, the figures /metrics/api-keys shows, and when it last ran (to the hour).
   */
  @Test
  void anEnvKeyIsListedWithTheRunsUsageRecordedOfIt() throws InterruptedException {
    long before = envKeyListed().path("usage_count").asLong();
    for (int i = 0; i < 2; i++) {
      assertEquals(200, server.exec("bash", "echo " + i).status());
    }
    // A run's usage is recorded just after its answer.
    JsonNode env =
        Eventually.until(
            "the runs' usage recorded",
            Duration.ofSeconds(10),
            this::envKeyListed,
            e -> e.path("usage_count").asLong() >= before + 2);
    assertEquals(before + 2, env.path("usage_count").asLong(), env.toString());
    java.time.Instant last = java.time.Instant.parse(env.path("last_used_at").asText());
    java.time.Instant now = java.time.Instant.now();
    assertTrue(!last.isAfter(now) && last.isAfter(now.minus(Duration.ofHours(1))), env.toString());

    String shortHash = env.path("key_hash").asText().substring(0, 16);
    JsonNode byKey = server.send(admin(server, "/api/v1/admin/metrics/api-keys")).json();
    boolean found = false;
    for (JsonNode k : byKey) {
      if (k.path("key_hash").asText().equals(shortHash)) {
        found = true;
        assertEquals(env.path("usage_count").asLong(), k.path("usage_count").asLong());
      }
    }
    assertTrue(found, byKey.toString());
    JsonNode shown =
        server.send(admin(server, "/api/v1/admin/keys/" + env.path("key_hash").asText())).json();
    assertEquals(env.path("usage_count"), shown.path("usage_count"), shown.toString());
  }

  @Test
  void executionsShowUpInUsageByKeyAndLanguageWithFailures() throws InterruptedException {
    JsonNode created =
        adminJson(server, "POST", "/api/v1/admin/keys", "{\"name\":\"usage probe\"}").json();
    String secret = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();
    List<Integer> statuses = new ArrayList<>();
    for (String code : List.of("echo ok", "exit 3", "echo again")) {
      statuses.add(
          server
              .send(
                  HttpRequest.newBuilder(server.base.resolve("/exec"))
                      .header("X-API-Key", secret)
                      .header("Content-Type", "application/json")
                      .POST(
                          HttpRequest.BodyPublishers.ofString(
                              dev.kubecoderun.common.Json.writeString(
                                  Map.of("lang", "bash", "code", code)))))
              .status());
    }
    assertEquals(List.of(200, 200, 200), statuses);

    // A run's usage is recorded just after its answer.
    JsonNode usage =
        Eventually.until(
            "the runs' usage recorded",
            Duration.ofSeconds(10),
            () ->
                server.send(admin(server, "/api/v1/admin/keys/" + hash + "/usage?hours=2")).json(),
            u -> u.at("/totals/executions").asInt() >= 3);
    assertEquals(3, usage.at("/totals/executions").asInt(), usage.toString());
    assertEquals(1, usage.at("/totals/error_count").asInt(), usage.toString());
    assertEquals("bash", usage.at("/by_language/0/language").asText());
    assertTrue(usage.at("/totals/latency_ms/p50").isNumber(), usage.toString());

    JsonNode all = server.send(admin(server, "/api/v1/admin/usage?hours=1")).json();
    boolean found = false;
    for (JsonNode k : all.get("by_api_key")) {
      if (k.get("api_key_hash").asText().equals(hash.substring(0, 16))) {
        found = true;
        assertEquals("usage probe", k.get("name").asText());
        assertEquals(3, k.get("executions").asInt());
      }
    }
    assertTrue(found, all.toString());

    JsonNode filtered =
        server
            .send(admin(server, "/api/v1/admin/usage?api_key_hash=" + hash + "&language=bash"))
            .json();
    assertEquals(3, filtered.at("/totals/executions").asInt());

    JsonNode live = server.send(admin(server, "/api/v1/admin/usage/live?minutes=5")).json();
    assertTrue(live.at("/totals/executions").asInt() >= 3, live.toString());
    assertTrue(live.at("/totals/per_minute").asDouble() > 0);

    JsonNode failures = server.send(admin(server, "/api/v1/admin/failures?limit=50")).json();
    boolean listed = false;
    for (JsonNode f : failures.get("failures")) {
      if (f.get("api_key_hash").asText().equals(hash.substring(0, 16))) {
        listed = true;
        assertEquals("error", f.get("outcome").asText());
        assertEquals("usage probe", f.get("key_name").asText());
        assertNull(f.get("message").textValue(), "never the code's output");
      }
    }
    assertTrue(listed, failures.toString());

    JsonNode stats = server.send(admin(server, "/api/v1/admin/stats?hours=1")).json();
    assertTrue(stats.at("/summary/total_executions").asInt() >= 3);
    assertTrue(stats.at("/by_language/bash/execution_count").asInt() >= 3);
    assertEquals(
        200, server.send(admin(server, "/api/v1/admin/metrics/summary?period=hour")).status());
    JsonNode langs = server.send(admin(server, "/api/v1/admin/metrics/languages")).json();
    assertEquals(3, langs.at("/matrix/bash/" + hash.substring(0, 16)).asInt(), langs.toString());
    JsonNode series =
        server.send(admin(server, "/api/v1/admin/metrics/time-series?period=day")).json();
    assertEquals("hour", series.get("granularity").asText());
    JsonNode heat = server.send(admin(server, "/api/v1/admin/metrics/heatmap")).json();
    assertTrue(heat.get("max_value").asInt() >= 3);
    JsonNode keys = server.send(admin(server, "/api/v1/admin/metrics/api-keys")).json();
    assertTrue(keys.toString().contains("usage probe"));
    JsonNode top = server.send(admin(server, "/api/v1/admin/metrics/top-languages?limit=3")).json();
    assertTrue(top.get("languages").size() >= 1);
    JsonNode pools = server.send(admin(server, "/api/v1/admin/pools")).json();
    assertEquals("local", pools.get("backend").asText());
    assertTrue(pools.at("/pool_stats/total_acquisitions").asInt() >= 3);
    server.send(admin(server, "/api/v1/admin/keys/" + hash).DELETE());
  }
}
