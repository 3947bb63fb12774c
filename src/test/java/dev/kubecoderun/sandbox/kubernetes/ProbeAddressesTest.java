package dev.kubecoderun.sandbox.kubernetes;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
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
