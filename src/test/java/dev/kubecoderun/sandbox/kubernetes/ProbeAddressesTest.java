package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * What the start-up check's probe pod tries to reach ({@link IsolationProbe#addresses}): a sandbox
 * has no DNS, so every name is resolved by the API, and the API's stores on a private network are
 * tried too, a Redis a NetworkPolicy lets sandboxes reach being the sessions and keys of everyone.
 */
class ProbeAddressesTest {
  private static final String LOOPBACK = InetAddress.getLoopbackAddress().getHostAddress();

  private static String loopback(int port) {
    return (LOOPBACK.contains(":") ? "[" + LOOPBACK + "]" : LOOPBACK) + ":" + port;
  }

  @Test
  void aNamedTargetIsTriedAtTheAddressTheApiResolvesItTo() {
    Map<String, String> tried =
        IsolationProbe.addresses(List.of("localhost:8000", "169.254.169.254:80"), List.of());
    assertEquals(
        Map.of("localhost:8000", loopback(8000), "169.254.169.254:80", "169.254.169.254:80"),
        tried);
  }

  @Test
  void aTargetThatDoesNotResolveIsPassedAsIs() {
    assertEquals(
        Map.of("nowhere.invalid:443", "nowhere.invalid:443"),
        IsolationProbe.addresses(List.of("nowhere.invalid:443"), List.of()));
  }

  @Test
  void theStoresOnAPrivateNetworkAreTriedAfterTheTargets() {
    Map<String, String> tried =
        IsolationProbe.addresses(
            List.of("10.0.3.7:8000"),
            List.of("localhost:6379", "10.96.12.4:9000", "1.1.1.1:6379", "nowhere.invalid:6379"));
    // A public store is the internet, which K8S_EGRESS_CHECK_ADDRESSES stands for; a store whose
    // name does not resolve here cannot be reached by the API either.
    assertEquals(
        List.of("10.0.3.7:8000", "localhost:6379", "10.96.12.4:9000"), List.copyOf(tried.keySet()));
    assertEquals(loopback(6379), tried.get("localhost:6379"));
  }

  /**
   * The probe pod's program (run here by the host's Python, as a sandbox's would) connects to each
   * address and reports it under its target's name, as /health/detailed shows it.
   */
  @Test
  void theProbeProgramTriesEachAddressAndReportsItByTarget() throws Exception {
    int closedPort;
    try (ServerSocket gone = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      closedPort = gone.getLocalPort();
    }
    try (ServerSocket open = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      Map<String, String> tried = new LinkedHashMap<>();
      tried.put("redis.kcr.svc:6379", loopback(open.getLocalPort()));
      tried.put("localhost:" + closedPort, loopback(closedPort));
      tried.put("nowhere.invalid:80", "nowhere.invalid:80");
      Path code = Files.createTempFile("kcr-probe", ".py");
      try {
        Files.writeString(code, IsolationProbe.program(tried));
        Process p =
            new ProcessBuilder("python3", code.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), out);
        JsonNode connect = Json.tree(out.trim().getBytes(StandardCharsets.UTF_8)).path("connect");
        assertEquals("connected", connect.path("redis.kcr.svc:6379").asText(), out);
        assertEquals("refused", connect.path("localhost:" + closedPort).asText(), out);
        assertTrue(connect.path("nowhere.invalid:80").asText().startsWith("error: "), out);
      } finally {
        Files.delete(code);
      }
    }
  }

  @Test
  void privateMeansTheClustersOwnNetworks() throws Exception {
    for (String ip :
        List.of(
            "10.96.0.1",
            "172.20.1.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.10",
            "127.0.0.1",
            "fd00::1",
            "fe80::1",
            "::1")) {
      assertTrue(IsolationProbe.isPrivate(InetAddress.getByName(ip)), ip);
    }
    for (String ip :
        List.of("1.1.1.1", "8.8.8.8", "100.128.0.1", "172.32.0.1", "2606:4700::1111")) {
      assertFalse(IsolationProbe.isPrivate(InetAddress.getByName(ip)), ip);
    }
  }
}
