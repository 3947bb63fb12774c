package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.stores.RedisServer;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import redis.clients.jedis.Jedis;

/**
 * Guessing keys is capped per client address (AUTH_FAILURE_LIMIT): past the limit, an address's
 * unknown credentials are answered 429 with Retry-After, unchecked (no key-store read), while keys
 * accepted before, and other addresses, go on. The clients are bound to addresses of their own
 * (127.0.0.x: all of 127/8 is the loopback).
 */
@Tag("integration")
class AuthThrottleTest {
  private static final int LIMIT = 5;
  private static final long WINDOW_SECONDS = 3600; // never ends during the test

  private static RedisServer redis;
  private static TestServer server;

  @BeforeAll
  static void start() throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    // A Redis of this test's own: every HGETALL it counts is this server's.
    redis = RedisServer.start(port, List.of());
    server =
        TestServer.start(
            Map.of(
                "REDIS_URL", redis.url(),
                "AUTH_FAILURE_LIMIT", Integer.toString(LIMIT),
                "AUTH_FAILURE_WINDOW_SECONDS", Long.toString(WINDOW_SECONDS),
                "POD_POOL_PY", "0"),
            "0");
  }

  @AfterAll
  static void stop() {
    server.app.close();
    redis.kill();
  }

  private static TestServer.Reply get(HttpClient client, String path, String key) {
    return server.send(
        client, HttpRequest.newBuilder(server.base.resolve(path)).header("X-API-Key", key).GET());
  }

  private static TestServer.Reply get(
      HttpClient client, String path, String key, String forwardedFor) {
    return server.send(
        client,
        HttpRequest.newBuilder(server.base.resolve(path))
            .header("X-API-Key", key)
            .header("X-Forwarded-For", forwardedFor)
            .GET());
  }

  /** How many HGETALLs the Redis has served: a managed key's lookup is one. */
  private static long hgetalls() {
    try (Jedis j = new Jedis("127.0.0.1", redis.port())) {
      Matcher m = Pattern.compile("cmdstat_hgetall:calls=(\\d+)").matcher(j.info("commandstats"));
      return m.find() ? Long.parseLong(m.group(1)) : 0;
    }
  }

  private static double throttled(String scope) {
    String text =
        server
            .send(
                HttpRequest.newBuilder(server.base.resolve("/metrics"))
                    .header("Authorization", "Bearer " + TestServer.METRICS)
                    .GET())
            .body();
    Matcher m =
        Pattern.compile("(?m)^kubecoderun_auth_throttled_total\\{scope=\"" + scope + "\"} (\\S+)$")
            .matcher(text);
    return m.find() ? Double.parseDouble(m.group(1)) : 0;
  }

  /**
   * The configured secrets are good from the start: after a restart, guesses from the address of
   * the LibreChat server, the operator and Prometheus (a NAT, a proxy) do not hold up their first
   * requests, which would otherwise be refused unchecked for as long as the guessing went on.
   */
  @Test
  void theConfiguredSecretsAreNeverHeldUpByGuessesEvenBeforeTheirFirstUse() {
    TestServer fresh =
        TestServer.start(
            Map.of(
                "AUTH_FAILURE_LIMIT",
                Integer.toString(LIMIT),
                "AUTH_FAILURE_WINDOW_SECONDS",
                Long.toString(WINDOW_SECONDS),
                "POD_POOL_PY",
                "0"),
            "0");
    try {
      HttpClient shared = TestServer.clientFrom("127.0.0.9");
      for (int i = 0; i < LIMIT; i++) {
        assertEquals(
            401,
            fresh
                .send(
                    shared,
                    HttpRequest.newBuilder(fresh.base.resolve("/v1/languages"))
                        .header("X-API-Key", "guess-number-" + i + "-of-a-long-key")
                        .GET())
                .status());
      }
      for (String[] first :
          List.of(
              new String[] {"/v1/languages", TestServer.KEY},
              new String[] {"/api/v1/admin/keys", TestServer.MASTER},
              new String[] {"/metrics", TestServer.METRICS})) {
        TestServer.Reply r =
            fresh.send(
                shared,
                HttpRequest.newBuilder(fresh.base.resolve(first[0]))
                    .header("Authorization", "Bearer " + first[1])
                    .GET());
        assertEquals(200, r.status(), first[0] + ": " + r.body());
      }
    } finally {
      fresh.app.close();
    }
  }

  @Test
  void guessingApiKeysIsAnswered429AfterTheLimitWithoutLookingTheKeysUp() {
    HttpClient guesser = TestServer.clientFrom("127.0.0.2");
    // Managed keys, not the configured secrets (which are never held up): the key of the LibreChat
    // server behind the same address, used before the guessing began, and one not used yet.
    String usedBefore = AdminApiTest.newApiKey(server, "used before the guessing");
    String notUsedYet = AdminApiTest.newApiKey(server, "first used from another address");
    assertEquals(
        200, get(TestServer.clientFrom("127.0.0.3"), "/v1/languages", usedBefore).status());
    double before = throttled("api");

    long lookups = hgetalls();
    for (int i = 0; i < LIMIT; i++) {
      TestServer.Reply r = get(guesser, "/v1/languages", "sk-guess-number-" + i);
      Errors.assertError(r, 401, "authentication");
    }
    assertTrue(hgetalls() - lookups >= LIMIT, "each guess was looked up in the key store");

    lookups = hgetalls();
    for (int i = LIMIT; i < LIMIT + 20; i++) {
      Errors.assertThrottled(get(guesser, "/v1/languages", "sk-guess-number-" + i), WINDOW_SECONDS);
    }
    assertEquals(lookups, hgetalls(), "a refused guess costs no key-store read");
    assertEquals(before + 20, throttled("api"));

    // The key accepted before still works from there; a key first used now from another address
    // is checked there, under that address's own count.
    assertEquals(200, get(guesser, "/v1/languages", usedBefore).status());
    assertEquals(
        200, get(TestServer.clientFrom("127.0.0.4"), "/v1/languages", notUsedYet).status());
    // A key never seen before waits like a guess where guessing went on: it is one, unchecked.
    Errors.assertThrottled(get(guesser, "/v1/languages", "sk-guess-number-last"), WINDOW_SECONDS);
  }

  /**
   * Without TRUSTED_PROXIES, X-Forwarded-For is the client's own word: a guesser naming a new
   * address in each request is still counted by its connection.
   */
  @Test
  void anXForwardedForHeaderDoesNotLetAClientEscapeItsCount() {
    HttpClient guesser = TestServer.clientFrom("127.0.0.7");
    for (int i = 0; i < LIMIT; i++) {
      TestServer.Reply r =
          get(guesser, "/v1/languages", "sk-forwarded-guess-" + i, "203.0.113." + (i + 1));
      Errors.assertError(r, 401, "authentication");
    }
    Errors.assertThrottled(
        get(guesser, "/v1/languages", "sk-forwarded-guess-last", "203.0.113.99"), WINDOW_SECONDS);
  }

  @Test
  void guessingTheMasterKeyIsCappedAndGoodRequestsBetweenGuessesDoNotResetTheCount() {
    String admin = "/api/v1/admin/keys";
    assertEquals(
        200, get(TestServer.clientFrom("127.0.0.6"), admin, TestServer.MASTER).status(), "known");
    // A managed key accepted before (the master key is a configured secret, never held up).
    String usedBefore = AdminApiTest.newApiKey(server, "used before the master key guessing");
    assertEquals(
        200, get(TestServer.clientFrom("127.0.0.6"), "/v1/languages", usedBefore).status());
    double before = throttled("operator");

    HttpClient guesser = TestServer.clientFrom("127.0.0.5");
    int wrong = 0;
    TestServer.Reply last;
    while (true) {
      assertEquals(200, get(guesser, admin, TestServer.MASTER).status(), "the operator's key");
      assertEquals(200, get(guesser, "/v1/languages", usedBefore).status(), "a managed key");
      last = get(guesser, admin, "a-guess-of-the-master-key-" + wrong);
      if (last.status() != 403) {
        break;
      }
      wrong++;
      assertTrue(wrong <= LIMIT, "more wrong keys checked than the limit");
    }
    assertEquals(LIMIT, wrong);
    Errors.assertThrottled(last, WINDOW_SECONDS);
    // /metrics counts with the same address: an unknown token waits too.
    Errors.assertThrottled(
        get(guesser, "/metrics", "a-guess-of-the-metrics-token"), WINDOW_SECONDS);
    assertEquals(200, get(guesser, admin, TestServer.MASTER).status(), "the operator goes on");
    assertEquals(
        200, get(guesser, "/v1/languages", usedBefore).status(), "the key accepted before too");
    assertEquals(before + 2, throttled("operator"));
  }
}
