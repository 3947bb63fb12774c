package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Behind a trusted proxy (TRUSTED_PROXIES), failed credentials are counted per client as the
 * proxy's X-Forwarded-For names it: a guesser behind the proxy does not make the keys of the
 * proxy's other clients wait. The proxy is a client bound to 127.0.0.x (all of 127/8 is trusted
 * here), sending the header a proxy would.
 */
@Tag("integration")
class TrustedProxiesTest {
  private static final int LIMIT = 3;
  private static final long WINDOW_SECONDS = 3600; // never ends during the test

  private static TestServer server;

  @BeforeAll
  static void start() {
    server =
        TestServer.start(
            Map.of(
                "TRUSTED_PROXIES",
                "127.0.0.0/8",
                "AUTH_FAILURE_LIMIT",
                Integer.toString(LIMIT),
                "AUTH_FAILURE_WINDOW_SECONDS",
                Long.toString(WINDOW_SECONDS),
                "POD_POOL_PY",
                "0"),
            "0");
  }

  @AfterAll
  static void stop() {
    server.app.close();
  }

  /** A request the proxy passes on for {@code forwardedFor}, with {@code key}. */
  private static TestServer.Reply get(
      HttpClient proxy, String path, String key, String forwardedFor) {
    return server.send(
        proxy,
        HttpRequest.newBuilder(server.base.resolve(path))
            .header("X-API-Key", key)
            .header("X-Forwarded-For", forwardedFor)
            .GET());
  }

  @Test
  void aGuesserBehindTheProxyDelaysNoOtherClientsNewKey() {
    HttpClient proxy = TestServer.clientFrom("127.0.0.2");
    for (int i = 0; i < LIMIT; i++) {
      Errors.assertError(
          get(proxy, "/v1/languages", "sk-guess-" + i, "203.0.113.7"), 401, "authentication");
    }
    Errors.assertThrottled(
        get(proxy, "/v1/languages", "sk-guess-last", "203.0.113.7"), WINDOW_SECONDS);
    // Its own header in front of what the proxy appends names no one: still counted as itself.
    Errors.assertThrottled(
        get(proxy, "/v1/languages", "sk-guess-spoofed", "198.51.100.1, 203.0.113.7"),
        WINDOW_SECONDS);

    // Another client behind the same proxy is counted as itself: a managed key it first uses now
    // (not one of the configured secrets, which are never held up) is checked and accepted, and a
    // wrong one is checked too (401, not 429).
    String newKey = AdminApiTest.newApiKey(server, "behind the proxy");
    assertEquals(200, get(proxy, "/v1/languages", newKey, "203.0.113.8").status());
    Errors.assertError(
        get(proxy, "/v1/languages", "sk-not-a-key-of-anyone", "203.0.113.8"),
        401,
        "authentication");
  }

  @Test
  void theMasterKeysRoutesCountPerClientBehindTheProxyToo() {
    HttpClient proxy = TestServer.clientFrom("127.0.0.3");
    String admin = "/api/v1/admin/keys";
    for (int i = 0; i < LIMIT; i++) {
      Errors.assertError(
          get(proxy, admin, "a-guess-of-the-master-key-" + i, "2001:db8:1::7"),
          403,
          "authorization");
    }
    // Another address of the same /64: the same client.
    Errors.assertThrottled(
        get(proxy, admin, "a-guess-of-the-master-key-last", "[2001:db8:1::9]:4711"),
        WINDOW_SECONDS);

    // Another client (another /64) behind the same proxy is counted as itself: its wrong key is
    // checked (403, not 429). The operator's master key is one of the configured secrets, never
    // held up: it works from there too.
    Errors.assertError(
        get(proxy, admin, "a-wrong-master-key-of-another-client", "2001:db8:2::1"),
        403,
        "authorization");
    assertEquals(200, get(proxy, admin, TestServer.MASTER, "2001:db8:2::1").status());
  }
}
