package dev.kubecoderun.auth;

import dev.kubecoderun.common.Sha256;
import java.net.InetAddress;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Caps how many secrets (API keys, the master key, the metrics token) one client address can try.
 * After {@code limit} failed checks within {@code window} (counted from the first of them), the
 * address's further credentials are refused unchecked (no key-store read, no comparison) until the
 * window ends: a guesser gets {@code limit} guesses per window, however fast it sends.
 *
 * <p>A credential accepted before (from any address) is still checked while its address is refused,
 * and never counted up front: a LibreChat server or an operator behind the same address as a
 * guesser (a NAT, a proxy, an Ingress) keeps working. A success never takes back a failure, so good
 * requests interleaved with guesses buy the guesser nothing.
 *
 * <p>Memory is bounded: at most {@code maxAddresses} addresses and {@link #MAX_REMEMBERED} accepted
 * credentials (their SHA-256, never the secret) are kept, the least recently used forgotten first.
 * A client that spreads over more addresses than that can make its own count be forgotten, but it
 * then has that many addresses' guesses anyway.
 */
public final class CredentialThrottle {
  /** How many accepted credentials are remembered: far more than a deployment's keys. */
  static final int MAX_REMEMBERED = 10_000;

  /** One address's failures in its current window. */
  private static final class Failures {
    final Instant windowEnd;
    int count;

    Failures(Instant windowEnd) {
      this.windowEnd = windowEnd;
    }
  }

  private final int limit;
  private final Duration window;
  private final Clock clock;
  private final Map<String, Failures> byAddress;
  private final Map<String, Boolean> accepted;
  private final Set<String> configured;

  /** {@code limit} 0: nothing is counted, nothing refused. */
  public CredentialThrottle(int limit, Duration window, int maxAddresses, Clock clock) {
    this(limit, window, maxAddresses, clock, List.of());
  }

  /**
   * {@code configured}: the secrets of the configuration (API_KEY(S), the master key, the metrics
   * token), good from the start and never forgotten: otherwise, after a restart, a guesser behind
   * the same address (a NAT, a proxy without TRUSTED_PROXIES) would keep them refused unchecked,
   * and never accepted, for as long as it kept guessing.
   */
  public CredentialThrottle(
      int limit, Duration window, int maxAddresses, Clock clock, Collection<String> configured) {
    this.limit = limit;
    this.window = window;
    this.clock = clock;
    this.byAddress = lru(maxAddresses);
    this.accepted = lru(MAX_REMEMBERED);
    this.configured =
        configured.stream()
            .filter(Objects::nonNull)
            .map(Sha256::hex)
            .collect(Collectors.toUnmodifiableSet());
  }

  /**
   * Before checking {@code credential} sent from {@code address}: null to check it, then report the
   * outcome with {@link #accepted} or {@link #failed}; otherwise how long the address must wait,
   * and the credential must not be checked. A credential not accepted before is counted as a
   * failure here, before its check, so that many sent at once cannot all slip in under the limit;
   * {@link #accepted} does not take that back (a new good credential costs its address one attempt,
   * once).
   */
  public Duration attempt(InetAddress address, String credential) {
    if (limit == 0) {
      return null;
    }
    // Hashed outside the lock: a key from a JSON body may be long.
    String digest = Sha256.hex(credential);
    String key = addressKey(address);
    if (configured.contains(digest)) {
      return null;
    }
    synchronized (this) {
      if (accepted.get(digest) != null) {
        return null;
      }
      Instant now = clock.instant();
      Failures f = current(key, now);
      if (f.count >= limit) {
        return Duration.between(now, f.windowEnd);
      }
      f.count++;
      return null;
    }
  }

  /** The credential was good: from now on it is checked even from a refused address. */
  public void accepted(String credential) {
    if (limit == 0) {
      return;
    }
    String digest = Sha256.hex(credential);
    synchronized (this) {
      accepted.put(digest, Boolean.TRUE);
    }
  }

  /**
   * The credential was refused. One accepted before (revoked since, say) is forgotten and counted
   * now, as {@link #attempt} did not count it.
   */
  public void failed(InetAddress address, String credential) {
    if (limit == 0) {
      return;
    }
    String digest = Sha256.hex(credential);
    String key = addressKey(address);
    synchronized (this) {
      if (accepted.remove(digest) != null) {
        current(key, clock.instant()).count++;
      }
    }
  }

  /** How many addresses are tracked now (for the test of the bound). */
  synchronized int trackedAddresses() {
    return byAddress.size();
  }

  /** How many accepted credentials are remembered now (for the test of the bound). */
  synchronized int rememberedCredentials() {
    return accepted.size();
  }

  /**
   * The address's window, a new one when it has none or its last one has ended (under the lock).
   */
  private Failures current(String key, Instant now) {
    Failures f = byAddress.get(key);
    if (f == null || !now.isBefore(f.windowEnd)) {
      f = new Failures(now.plus(window));
      byAddress.put(key, f);
    }
    return f;
  }

  /**
   * What is counted: an IPv4 address; for IPv6 its /64, since a client is usually given a whole /64
   * and could otherwise send every guess from a new address.
   */
  static String addressKey(InetAddress address) {
    if (address == null) {
      return "unknown";
    }
    byte[] b = address.getAddress();
    return b.length == 16 ? HexFormat.of().formatHex(b, 0, 8) + "::/64" : address.getHostAddress();
  }

  private static <V> Map<String, V> lru(int max) {
    return new LinkedHashMap<>(16, 0.75f, true) {
      @Override
      protected boolean removeEldestEntry(Map.Entry<String, V> eldest) {
        return size() > max;
      }
    };
  }
}
