package dev.kubecoderun.sandbox.kubernetes;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.net.httpserver.HttpServer;
import io.kubernetes.client.openapi.ApiClient;
import java.net.InetSocketAddress;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A sandbox's slot (its cap permit, its pod identity) is freed only once its object is gone or
 * going, so that during an API server brownout the real pods stay within K8S_MAX_PODS and
 * K8S_MAX_JOBS; and it is never lost for good. The API server here is a stand-in that answers
 * deletes with the status the test sets.
 */
class HeldSlotsTest {
  private HttpServer apiServer;
  private volatile int deleteStatus = 200;
  private final AtomicInteger freed = new AtomicInteger();
  private HeldSlots slots;

  @BeforeEach
  void startApiServer() throws Exception {
    apiServer = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    apiServer.createContext(
        "/",
        exchange -> {
          int status = deleteStatus;
          byte[] body =
              (status == 200
                      ? "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":\"Success\"}"
                      : "{\"apiVersion\":\"v1\",\"kind\":\"Status\",\"status\":\"Failure\",\"code\":"
                          + status
                          + "}")
                  .getBytes(UTF_8);
          exchange.getResponseHeaders().add("Content-Type", "application/json");
          exchange.sendResponseHeaders(status, body.length);
          exchange.getResponseBody().write(body);
          exchange.close();
        });
    apiServer.start();
    ApiClient client = new ApiClient();
    client.setBasePath("http://127.0.0.1:" + apiServer.getAddress().getPort());
    slots = new HeldSlots(new SandboxObjects(client, "sandboxes"));
  }

  @AfterEach
  void stopApiServer() {
    apiServer.stop(0);
  }

  @Test
  void aDeleteTheApiServerAcceptedOrHadNoObjectForFreesTheSlotAtOnce() {
    deleteStatus = 200;
    slots.delete("kcr-job-c-1", true, freed::incrementAndGet);
    assertEquals(1, freed.get(), "deleted");
    deleteStatus = 404;
    slots.delete("kcr-job-c-2", true, freed::incrementAndGet);
    assertEquals(2, freed.get(), "already gone");
    assertEquals(0, slots.held());
  }

  @Test
  void aFailedDeleteHoldsTheSlotUntilTheStraySweepsDeleteTakes() {
    deleteStatus = 503; // the API server browning out: the pod stays
    slots.delete("kcr-py-1", false, freed::incrementAndGet);
    assertEquals(0, freed.get(), "the pod may still run: its slot is still held");
    assertEquals(1, slots.held());

    slots.freeGone(name -> true); // the watch still shows its pod
    assertEquals(0, freed.get());

    slots.deletedAgain("kcr-py-1"); // the stray sweep's delete took
    slots.deletedAgain("kcr-py-1");
    assertEquals(1, freed.get(), "freed once");
    assertEquals(0, slots.held());
  }

  @Test
  void aFailedDeletesSlotIsFreedOnceTheWatchNoLongerShowsThePod() {
    deleteStatus = 500;
    slots.delete("kcr-py-1", false, freed::incrementAndGet);
    assertEquals(0, freed.get());

    slots.freeGone(name -> false); // deleted after all, or by someone else
    slots.freeGone(name -> false);
    assertEquals(1, freed.get(), "freed once");
  }
}
