package dev.kubecoderun.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Which address credentials are counted against: the connection's, or behind a trusted proxy the
 * client X-Forwarded-For names, read from the right and never more of it than a real chain needs.
 */
class ClientAddressTest {
  private static final InetAddress PROXY = ip("10.0.0.5");
  private static final InetAddress STRANGER = ip("198.51.100.20");

  private final ClientAddress behindIngress = clients("10.0.0.0/8", "fd00::/8");

  private static ClientAddress clients(String... cidrs) {
    return new ClientAddress(Arrays.stream(cidrs).map(ClientAddress.Cidr::parse).toList());
  }

  private static InetAddress ip(String literal) {
    try {
      return InetAddress.getByName(literal);
    } catch (UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  private InetAddress via(InetAddress connection, String... forwardedFor) {
    return behindIngress.of(connection, List.of(forwardedFor));
  }

  @Test
  void withoutTrustedProxiesTheHeaderIsIgnored() {
    ClientAddress none = new ClientAddress(List.of());
    assertEquals(PROXY, none.of(PROXY, List.of("203.0.113.7")));
    assertNull(none.of(null, List.of("203.0.113.7")), "a connection without an IP address");
  }

  @Test
  void aConnectionFromOutsideTheTrustedNetworksIsTheClientWhateverItSends() {
    assertEquals(STRANGER, via(STRANGER, "203.0.113.7"));
    assertEquals(STRANGER, via(STRANGER, "10.0.0.9"));
  }

  @Test
  void behindATrustedProxyTheClientIsTheAddressItAppended() {
    assertEquals(ip("203.0.113.7"), via(PROXY, "203.0.113.7"));
    assertEquals(PROXY, via(PROXY), "no header: the proxy's own request");
    assertEquals(PROXY, via(PROXY, ""), "an empty header");
  }

  @Test
  void theChainIsWalkedFromTheRightPastTrustedProxies() {
    // client -> edge proxy 10.0.0.6 -> ingress 10.0.0.5 -> API.
    assertEquals(ip("203.0.113.7"), via(PROXY, "203.0.113.7, 10.0.0.6"));
    // What the client wrote itself is left of its own address: it picks nothing.
    assertEquals(ip("203.0.113.7"), via(PROXY, "1.1.1.1, 203.0.113.7, 10.0.0.6"));
    assertEquals(ip("203.0.113.7"), via(PROXY, "10.0.0.1, 203.0.113.7"));
    assertEquals(ip("203.0.113.7"), via(PROXY, "not an address, 203.0.113.7"));
    // Every entry a trusted proxy: the left-most is the client.
    assertEquals(ip("10.0.0.7"), via(PROXY, "10.0.0.7, 10.0.0.6"));
  }

  @Test
  void severalHeaderLinesAreOneListInTheirOrder() {
    assertEquals(ip("203.0.113.7"), via(PROXY, "1.1.1.1", "203.0.113.7, 10.0.0.6"));
    assertEquals(ip("203.0.113.9"), via(PROXY, "203.0.113.9", "10.0.0.6"));
    assertEquals(ip("203.0.113.9"), via(PROXY, "203.0.113.9", ""));
  }

  @Test
  void emptyEntriesAreSkipped() {
    assertEquals(ip("203.0.113.7"), via(PROXY, "203.0.113.7, ,10.0.0.6,"));
  }

  @Test
  void ipv6ConnectionsAndClients() {
    InetAddress proxy6 = ip("fd00::5");
    assertEquals(ip("2001:db8::1"), via(proxy6, "2001:db8::1"));
    assertEquals(ip("2001:db8::1"), via(proxy6, "[2001:db8::1]:4711"), "with a port");
    assertEquals(ip("2001:db8::1"), via(proxy6, "[2001:db8::1]"));
    assertEquals(ip("2001:db8::1"), via(PROXY, "2001:db8::1, fd00::7"), "mixed families");
    assertEquals(ip("203.0.113.7"), via(proxy6, "203.0.113.7:5555"), "IPv4 with a port");
    assertEquals(ip("203.0.113.7"), via(proxy6, "::ffff:203.0.113.7"), "IPv4-mapped");
    // An IPv6 client is counted by its /64, whichever of its addresses it sends from.
    assertEquals(
        CredentialThrottle.addressKey(via(proxy6, "2001:db8:0:1::1")),
        CredentialThrottle.addressKey(via(proxy6, "2001:db8:0:1:ffff::9")));
    // The loopback, one address trusted alone.
    assertEquals(ip("2001:db8::1"), clients("::1").of(ip("::1"), List.of("2001:db8::1")));
  }

  @Test
  void aMalformedEntryReachedOnTheWayLeavesTheConnectionsAddress() {
    for (String bad :
        List.of(
            "unknown",
            "_hidden", // an RFC 7239 obfuscated name
            "client.example.com", // never looked up
            "localhost",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "01.2.3.4", // octal to some readers
            "1.2.3.-4",
            "1.2.3.4:",
            "1.2.3.4:123456",
            "1.2.3.4:http",
            "[1.2.3.4]",
            "[2001:db8::1",
            "[2001:db8::1]x",
            "2001:db8::1%eth0",
            "2001:db8::1::2",
            "2001:db8::g",
            ".1::",
            "for=203.0.113.7")) {
      assertEquals(PROXY, via(PROXY, bad), bad);
      assertEquals(PROXY, via(PROXY, bad + ", 10.0.0.6"), bad + " behind a proxy");
    }
  }

  @Test
  void anOversizedHeaderIsReadOnlyFromItsRightEnd() {
    // A client's own header, padded to the server's limit, with its address appended.
    String padding = "192.0.2.1, ".repeat(1500);
    assertEquals(ip("203.0.113.7"), via(PROXY, padding + "203.0.113.7, 10.0.0.6"));
    assertEquals(ip("203.0.113.7"), via(PROXY, "x".repeat(100_000) + ",203.0.113.7"));
    // A chain of trusted proxies longer than any real one: not followed to its end.
    String proxies = "10.0.0.9, ".repeat(ClientAddress.MAX_ENTRIES);
    assertEquals(PROXY, via(PROXY, "203.0.113.7, " + proxies + "10.0.0.6"));
    assertEquals(
        PROXY, via(PROXY, String.join("", java.util.Collections.nCopies(1000, ",")) + " "));
    List<String> lines = java.util.Collections.nCopies(1000, "10.0.0.9");
    assertEquals(PROXY, behindIngress.of(PROXY, lines), "as many header lines");
    // One entry longer than any address: not read.
    assertEquals(PROXY, via(PROXY, "1".repeat(100_000)));
    assertEquals(PROXY, via(PROXY, " ".repeat(60) + "203.0.113.7"));
    assertEquals(ip("203.0.113.7"), via(PROXY, "  203.0.113.7  "));
  }

  @Test
  void networksAreParsedStrictly() {
    ClientAddress.Cidr pods = ClientAddress.Cidr.parse("10.244.0.0/16");
    assertTrue(pods.contains(ip("10.244.3.7")));
    assertFalse(pods.contains(ip("10.245.0.1")));
    assertFalse(ClientAddress.Cidr.parse("0.0.0.0/0").contains(ip("::1")), "families apart");
    assertTrue(ClientAddress.Cidr.parse("0.0.0.0/0").contains(ip("8.8.8.8")));
    assertTrue(ClientAddress.Cidr.parse("10.0.0.5").contains(PROXY));
    assertFalse(ClientAddress.Cidr.parse("10.0.0.5").contains(ip("10.0.0.4")));
    assertTrue(ClientAddress.Cidr.parse("fd00::/8").contains(ip("fdff::1")));
    assertFalse(ClientAddress.Cidr.parse("fd00::/8").contains(ip("fe00::1")));
    assertTrue(ClientAddress.Cidr.parse("10.0.0.0/9").contains(ip("10.127.255.255")));
    assertFalse(ClientAddress.Cidr.parse("10.0.0.0/9").contains(ip("10.128.0.0")));

    assertEquals(
        "10.1.2.3/8 has bits set beyond its prefix; the network is 10.0.0.0/8",
        assertThrows(IllegalArgumentException.class, () -> ClientAddress.Cidr.parse("10.1.2.3/8"))
            .getMessage());
    for (String bad :
        List.of("10.0.0.0/33", "fd00::/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "x")) {
      assertThrows(IllegalArgumentException.class, () -> ClientAddress.Cidr.parse(bad), bad);
    }
    assertThrows(
        IllegalArgumentException.class,
        () -> ClientAddress.Cidr.parse("ingress.example.com"),
        "a host name is no network");
  }
}
