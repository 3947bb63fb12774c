package dev.kubecoderun.auth;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;

/**
 * The address a request's credentials are counted against ({@link CredentialThrottle}): the
 * connection's, unless that is a trusted proxy's (TRUSTED_PROXIES), in which case the client the
 * proxies name in {@code X-Forwarded-For}.
 *
 * <p>Each proxy appends the address it was connected from, so the header's right end is what the
 * trusted proxies wrote and its left part whatever the client sent. The header is walked from the
 * right, past addresses that are themselves trusted proxies; the first untrusted one is the client
 * (nginx's {@code real_ip_recursive on}). Entries left of it are never looked at, so a client can
 * neither pick its address nor, with junk there, fall back to the proxy's. If every entry is a
 * trusted proxy, the left-most is the client. A malformed entry reached on the way (no IP literal:
 * {@code unknown}, a host name, an RFC 7239 obfuscated name) stops the walk at the connection's
 * address: nothing the proxies say can then be relied on.
 *
 * <p>The header is hostile input: at most {@link #MAX_ENTRIES} entries of at most {@link
 * #MAX_ENTRY_CHARS} characters each are looked at, from the right, whatever its length; past them
 * the connection's address is used. No entry is ever resolved through DNS: only IP literals are
 * parsed.
 *
 * <p>{@code Forwarded} (RFC 7239) is not read: a proxy that only appends {@code X-Forwarded-For}
 * passes a client's own {@code Forwarded} on untouched, so reading both would let clients name
 * themselves.
 */
public final class ClientAddress {
  /** Entries looked at from the right: more proxies than any real chain has. */
  static final int MAX_ENTRIES = 16;

  /**
   * The longest entry read (spaces around it included): {@code [IPv6 with an IPv4 tail]:65535} is
   * 53 characters.
   */
  static final int MAX_ENTRY_CHARS = 64;

  private final List<Cidr> trusted;

  /** {@code trusted} empty: the connection's address is always the client's. */
  public ClientAddress(List<Cidr> trusted) {
    this.trusted = List.copyOf(trusted);
  }

  /**
   * The client's address: {@code connection} (null when the connection has no IP address), or, when
   * it is a trusted proxy's, the one {@code forwardedFor} names (the values of every {@code
   * X-Forwarded-For} line, in the order received; empty when none came).
   */
  public InetAddress of(InetAddress connection, List<String> forwardedFor) {
    if (connection == null || !trusts(connection)) {
      return connection;
    }
    InetAddress leftMost = null;
    int entries = 0;
    // Lines in order form one list (RFC 9110 5.3): the last line's last entry is the right-most.
    for (int line = forwardedFor.size() - 1; line >= 0; line--) {
      String value = forwardedFor.get(line);
      int end = value.length();
      while (end >= 0) {
        if (++entries > MAX_ENTRIES) {
          return connection;
        }
        // The comma before the entry, looked for no further back than the longest entry reaches.
        int floor = Math.max(0, end - MAX_ENTRY_CHARS - 1);
        int comma = end - 1;
        while (comma >= floor && value.charAt(comma) != ',') {
          comma--;
        }
        if (comma >= 0 && comma < floor) {
          return connection; // longer than any address
        }
        String entry = value.substring(comma + 1, end).strip();
        end = comma; // -1 after the line's first entry
        if (entry.isEmpty()) {
          continue; // an empty list element is skipped (RFC 9110 5.6.1)
        }
        InetAddress a = literal(entry);
        if (a == null) {
          return connection;
        }
        if (!trusts(a)) {
          return a;
        }
        leftMost = a;
      }
    }
    return leftMost != null ? leftMost : connection;
  }

  /** Whether {@code a} is one of the trusted proxies. */
  boolean trusts(InetAddress a) {
    for (Cidr c : trusted) {
      if (c.contains(a)) {
        return true;
      }
    }
    return false;
  }

  /**
   * An address as proxies write it: IPv4, IPv6 (bare or in brackets), either with a port after it
   * ({@code 192.0.2.1:4711}, {@code [2001:db8::1]:4711}). Null when it is none of these.
   */
  static InetAddress literal(String s) {
    if (s.startsWith("[")) {
      int close = s.indexOf(']');
      if (close < 0 || !(close == s.length() - 1 || isPort(s, close + 1))) {
        return null;
      }
      String host = s.substring(1, close);
      return host.indexOf(':') >= 0 ? ipv6(host) : null;
    }
    int colon = s.indexOf(':');
    if (colon >= 0 && s.indexOf(':', colon + 1) < 0) {
      return isPort(s, colon) ? ipv4(s.substring(0, colon)) : null; // IPv4 and a port
    }
    return colon >= 0 ? ipv6(s) : ipv4(s);
  }

  /** {@code :} and 1 to 5 digits from {@code at} to the end. */
  private static boolean isPort(String s, int at) {
    int digits = s.length() - at - 1;
    if (s.charAt(at) != ':' || digits < 1 || digits > 5) {
      return false;
    }
    for (int i = at + 1; i < s.length(); i++) {
      if (s.charAt(i) < '0' || s.charAt(i) > '9') {
        return false;
      }
    }
    return true;
  }

  /**
   * Dotted decimal, four parts of 0-255 without leading zeros (which some readers take for octal).
   */
  static InetAddress ipv4(String s) {
    String[] parts = s.split("\\.", -1);
    if (parts.length != 4) {
      return null;
    }
    byte[] b = new byte[4];
    for (int i = 0; i < 4; i++) {
      String p = parts[i];
      if (p.isEmpty() || p.length() > 3 || (p.length() > 1 && p.charAt(0) == '0')) {
        return null;
      }
      int n = 0;
      for (int j = 0; j < p.length(); j++) {
        char c = p.charAt(j);
        if (c < '0' || c > '9') {
          return null;
        }
        n = n * 10 + (c - '0');
      }
      if (n > 255) {
        return null;
      }
      b[i] = (byte) n;
    }
    return byAddress(b);
  }

  /** An IPv6 literal (an IPv4-mapped one is its IPv4 address), no zone. */
  static InetAddress ipv6(String s) {
    if (s.isEmpty() || s.length() > 45 || s.indexOf(':') < 0) {
      return null;
    }
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      boolean hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
      if (!hex && c != ':' && c != '.') {
        return null;
      }
    }
    if (s.charAt(0) == '.') {
      return null;
    }
    try {
      // Starting with a hex digit or ':' and holding a ':', the text is parsed as an IPv6 literal,
      // never looked up: an invalid one throws.
      return InetAddress.getByName(s);
    } catch (UnknownHostException e) {
      return null;
    }
  }

  private static InetAddress byAddress(byte[] b) {
    try {
      return InetAddress.getByAddress(b);
    } catch (UnknownHostException e) {
      throw new IllegalStateException(e); // only for a length other than 4 or 16
    }
  }

  /** A network, as in TRUSTED_PROXIES: {@code 10.0.0.0/8}, {@code fd00::/8}, or one address. */
  public static final class Cidr {
    private final byte[] network;
    private final int bits;
    private final String text;

    private Cidr(byte[] network, int bits, String text) {
      this.network = network;
      this.bits = bits;
      this.text = text;
    }

    /**
     * {@code address/bits} or a bare address (all its bits). Host bits set are refused: {@code
     * 10.1.2.3/8} is more likely a mistake than {@code 10.0.0.0/8}.
     *
     * @throws IllegalArgumentException saying what is wrong
     */
    public static Cidr parse(String text) {
      int slash = text.indexOf('/');
      String host = slash < 0 ? text : text.substring(0, slash);
      InetAddress a = host.indexOf(':') >= 0 ? ipv6(host) : ipv4(host);
      if (a == null) {
        throw new IllegalArgumentException(text + " is not an IP address or a network (CIDR)");
      }
      byte[] b = a.getAddress();
      int max = b.length * 8;
      int bits = max;
      if (slash >= 0) {
        String p = text.substring(slash + 1);
        if (!p.matches("[0-9]{1,3}") || Integer.parseInt(p) > max) {
          throw new IllegalArgumentException(
              text + ": the prefix length must be a number from 0 to " + max);
        }
        bits = Integer.parseInt(p);
      }
      byte[] network = masked(b, bits);
      if (!java.util.Arrays.equals(network, b)) {
        throw new IllegalArgumentException(
            text
                + " has bits set beyond its prefix; the network is "
                + byAddress(network).getHostAddress()
                + "/"
                + bits);
      }
      return new Cidr(network, bits, text);
    }

    /** Whether {@code a} is in this network (an IPv4 address is never in an IPv6 network). */
    public boolean contains(InetAddress a) {
      byte[] b = a.getAddress();
      return b.length == network.length && java.util.Arrays.equals(masked(b, bits), network);
    }

    private static byte[] masked(byte[] b, int bits) {
      byte[] out = b.clone();
      for (int i = 0; i < out.length; i++) {
        int keep = Math.max(0, Math.min(8, bits - i * 8));
        out[i] &= (byte) (0xff << (8 - keep));
      }
      return out;
    }

    @Override
    public String toString() {
      return text;
    }
  }
}
