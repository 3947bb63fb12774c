package dev.kubecoderun.sandbox.kubernetes;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.testing.Eventually;
import io.kubernetes.client.openapi.models.V1Lease;
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
    try (StandInApiServer apiServer =
            StandInApiServer.start(
                exchange -> {
                  String method = exchange.getRequestMethod();
                  calls.add(method + " " + System.nanoTime());
                  String request = new String(exchange.getRequestBody().readAllBytes(), UTF_8);
                  if (method.equals("PUT") && puts.incrementAndGet() == 1) {
                    StandInApiServer.reply(exchange, 503, StandInApiServer.failure(503));
                  } else if (method.equals("POST")) {
                    StandInApiServer.reply(exchange, 201, request); // created: as sent
                  } else if (method.equals("PUT")) {
                    StandInApiServer.reply(exchange, 200, request); // replaced: as sent
                  } else {
                    StandInApiServer.reply(
                        exchange,
                        200,
                        "{\"apiVersion\":\"v1\",\"kind\":\"LeaseList\",\"items\":[]}");
                  }
                });
        OwnerLeases leases =
            new OwnerLeases(apiServer.client(), "sandboxes", "api-1", Duration.ofSeconds(9))) {
      leases.start();
      Eventually.await("a second renewal", Duration.ofSeconds(15), () -> puts.get() >= 2);
    }
    List<String> methods = calls.stream().map(c -> c.split(" ")[0]).toList();
    assertEquals(List.of("POST", "PUT", "PUT"), methods.subList(0, 3), calls.toString());
    long gap = nanos(calls.get(2)) - nanos(calls.get(1));
    assertTrue(
        gap < Duration.ofMillis(2500).toNanos(),
        "the retry came " + Duration.ofNanos(gap).toMillis() + " ms after the failure");
  }

  /**
   * A renewal answered 409 (the Lease changed meanwhile: a renewal that took after all, its answer
   * lost) lists the Leases, and the next renewal carries the listed version, not the stale one,
   * which would be refused again and again until the Lease lapsed.
   */
  @Test
  void aRenewalRefusedAsStaleIsRetriedWithTheListedVersion() throws Exception {
    List<Call> calls = new CopyOnWriteArrayList<>();
    AtomicInteger puts = new AtomicInteger();
    String listed =
        "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"LeaseList\",\"items\":[{\"metadata\":"
            + "{\"name\":\"kcr-owner-api-1\",\"resourceVersion\":\"42\"},\"spec\":"
            + "{\"holderIdentity\":\"api-1\",\"leaseDurationSeconds\":3}}]}";
    try (StandInApiServer apiServer =
            StandInApiServer.start(
                exchange -> {
                  String method = exchange.getRequestMethod();
                  String request = new String(exchange.getRequestBody().readAllBytes(), UTF_8);
                  calls.add(new Call(method, request));
                  if (method.equals("PUT") && puts.incrementAndGet() == 1) {
                    StandInApiServer.reply(exchange, 409, StandInApiServer.failure(409));
                  } else if (method.equals("GET")) {
                    StandInApiServer.reply(exchange, 200, listed);
                  } else {
                    StandInApiServer.reply(exchange, method.equals("POST") ? 201 : 200, request);
                  }
                });
        OwnerLeases leases =
            new OwnerLeases(apiServer.client(), "sandboxes", "api-1", Duration.ofSeconds(3))) {
      leases.start();
      Eventually.await("a second renewal", Duration.ofSeconds(15), () -> puts.get() >= 2);
      List<String> methods = calls.stream().map(Call::method).toList();
      assertEquals(
          List.of("POST", "PUT", "GET", "PUT"),
          methods.stream().limit(4).toList(),
          methods.toString());
      V1Lease renewed = V1Lease.fromJson(calls.get(3).body());
      assertEquals("42", renewed.getMetadata().getResourceVersion(), "the listed version");
    }
  }

  /** A renewal answered 404 (the Lease was deleted, by another API pod's sweep) takes it anew. */
  @Test
  void aRenewalOfALeaseGoneTakesItAnew() throws Exception {
    List<Call> calls = new CopyOnWriteArrayList<>();
    AtomicInteger posts = new AtomicInteger();
    try (StandInApiServer apiServer =
            StandInApiServer.start(
                exchange -> {
                  String method = exchange.getRequestMethod();
                  String request = new String(exchange.getRequestBody().readAllBytes(), UTF_8);
                  calls.add(new Call(method, request));
                  switch (method) {
                    case "POST" -> {
                      posts.incrementAndGet();
                      StandInApiServer.reply(exchange, 201, request);
                    }
                    case "PUT" ->
                        StandInApiServer.reply(exchange, 404, StandInApiServer.failure(404));
                    default ->
                        StandInApiServer.reply(
                            exchange,
                            200,
                            "{\"apiVersion\":\"coordination.k8s.io/v1\",\"kind\":\"LeaseList\",\"items\":[]}");
                  }
                });
        OwnerLeases leases =
            new OwnerLeases(apiServer.client(), "sandboxes", "api-1", Duration.ofSeconds(3))) {
      leases.start();
      Eventually.await("the Lease created again", Duration.ofSeconds(15), () -> posts.get() >= 2);
      List<String> methods = calls.stream().map(Call::method).toList();
      assertEquals(
          List.of("POST", "PUT", "GET", "POST"),
          methods.stream().limit(4).toList(),
          methods.toString());
      V1Lease created = V1Lease.fromJson(calls.get(3).body());
      assertEquals("kcr-owner-api-1", created.getMetadata().getName());
      assertEquals("api-1", created.getSpec().getHolderIdentity());
    }
  }

  /** A call the stand-in API server took: its method and body. */
  private record Call(String method, String body) {}

  private static long nanos(String call) {
    return Long.parseLong(call.split(" ")[1]);
  }
}
