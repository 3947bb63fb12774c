package dev.kubecoderun.sandbox.kubernetes;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.testing.Eventually;
import io.kubernetes.client.openapi.ApiClient;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * An API pod's owner Lease must not lapse while the pod lives: another API pod would delete its
 * sandboxes, running ones included.
 */
class OwnerLeasesTest {
  @Test
  void aLeaseShorterThanARenewalMayTakeIsWarnedOf() {
    String warning = OwnerLeases.shortLeaseWarning(Duration.ofSeconds(5));
    assertTrue(
        warning.startsWith("K8S_OWNER_LEASE_SECONDS=5 is shorter than 30 s")
            && warning.contains("delete its sandboxes"),
        warning);
  }

  @Test
  void theDefaultLeaseAndLongerOnesAreNot() {
    assertNull(OwnerLeases.shortLeaseWarning(Duration.ofSeconds(30)));
    assertNull(OwnerLeases.shortLeaseWarning(Duration.ofSeconds(60)));
  }

  /**
   * A renewal the API server failed (503) is tried again a second later, not a third of the Lease
   * later (3 s here), and straight away: no listing of the Leases first, which a slow API server
   * would make as slow again.
   */
  @Test
  void aFailedRenewalIsTriedAgainSoonWithoutAListingFirst() throws Exception {
    List<String> calls = new CopyOnWriteArrayList<>(); // "PUT 1733050000000"
    AtomicInteger puts = new AtomicInteger();
    HttpServer apiServer = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    apiServer.createContext(
        "/",
        exchange -> {
          String method = exchange.getRequestMethod();
          calls.add(method + " " + System.nanoTime());
          byte[] request = exchange.getRequestBody().readAllBytes();
          int status = 200;
          byte[] body = request; // a created or replaced Lease: as sent
          if (method.equals("PUT") && puts.incrementAndGet() == 1) {
            status = 503;
            body =
                "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":\"Failure\",\"code\":503}"
                    .getBytes(UTF_8);
          } else if (method.equals("POST")) {
            status = 201;
          } else if (!method.equals("PUT")) {
            body = "{\"apiVersion\":\"v1\",\"kind\":\"LeaseList\",\"items\":[]}".getBytes(UTF_8);
          }
          exchange.getResponseHeaders().add("Content-Type", "application/json");
          exchange.sendResponseHeaders(status, body.length);
          exchange.getResponseBody().write(body);
          exchange.close();
        });
    apiServer.start();
    ApiClient client = new ApiClient();
    client.setBasePath("http://127.0.0.1:" + apiServer.getAddress().getPort());
    try (OwnerLeases leases =
        new OwnerLeases(client, "sandboxes", "api-1", Duration.ofSeconds(9))) {
      leases.start();
      Eventually.await("a second renewal", Duration.ofSeconds(15), () -> puts.get() >= 2);
    } finally {
      apiServer.stop(0);
    }
    List<String> methods = calls.stream().map(c -> c.split(" ")[0]).toList();
    assertEquals(List.of("POST", "PUT", "PUT"), methods.subList(0, 3), calls.toString());
    long gap = nanos(calls.get(2)) - nanos(calls.get(1));
    assertTrue(
        gap < Duration.ofMillis(2500).toNanos(),
        "the retry came " + Duration.ofNanos(gap).toMillis() + " ms after the failure");
  }

  private static long nanos(String call) {
    return Long.parseLong(call.split(" ")[1]);
  }
}
