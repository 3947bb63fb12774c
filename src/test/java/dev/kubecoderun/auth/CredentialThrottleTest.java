package dev.kubecoderun.auth;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.kubecoderun.testing.MovingClock;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The count of failed credentials per address: limit, window, what a success does, bounds. */
class CredentialThrottleTest {
  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");
  private static final Duration MINUTE = Duration.ofMinutes(1);

  private final MovingClock clock = new MovingClock(T0);
  private final CredentialThrottle throttle = new CredentialThrottle(3, MINUTE, 100, clock);
  private final InetAddress guesser = ip("198.51.100.7");

  private static InetAddress ip(String literal) {
    try {
      return InetAddress.getByName(literal);
    } catch (UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  /** One guess checked and found wrong; false when it was refused unchecked. */
  private boolean guess(InetAddress from, String key) {
    if (throttle.attempt(from, key) != null) {
      return false;
    }
    throttle.failed(from, key);
    return true;
  }

  @Test
  void afterTheLimitAnAddressWaitsForTheEndOfItsWindow() {
    for (int i = 0; i < 3; i++) {
      assertEquals(true, guess(guesser, "guess-" + i));
    }
    clock.set(T0.plusSeconds(20));
    assertEquals(Duration.ofSeconds(40), throttle.attempt(guesser, "guess-3"));
    // Refused attempts are no checks: they do not push the window further.
    clock.set(T0.plusSeconds(59));
    assertEquals(Duration.ofSeconds(1), throttle.attempt(guesser, "guess-4"));
    clock.set(T0.plusSeconds(60));
    assertEquals(true, guess(guesser, "guess-5"), "a new window");
    assertNull(throttle.attempt(ip("198.51.100.8"), "guess-6"), "another address");
  }

  @Test
  void attemptsAreCountedBeforeTheirCheckSoManyAtOnceCannotSlipIn() {
    // A hundred guesses sent at once: none has its answer when the fourth asks.
    int checked = 0;
    for (int i = 0; i < 100; i++) {
      if (throttle.attempt(guesser, "guess-" + i) == null) {
        checked++;
      }
    }
    assertEquals(3, checked);
  }

  @Test
  void aGoodKeyKeepsWorkingFromARefusedAddressAndBuysNoGuesses() {
    String good = "the-librechat-server-key";
    assertNull(throttle.attempt(guesser, good));
    throttle.accepted(good);
    int guesses = 0;
    for (int i = 0; i < 50; i++) {
      // Interleaved: a good request between every two guesses.
      assertNull(throttle.attempt(guesser, good), "the good key is checked, at " + i);
      throttle.accepted(good);
      if (guess(guesser, "guess-" + i)) {
        guesses++;
      }
    }
    // The good key's first request counted once (it was not known yet): two guesses are left.
    assertEquals(2, guesses);
  }

  @Test
  void aKnownKeyThatFailsIsForgottenAndCounted() {
    String revoked = "a-key-revoked-later";
    assertNull(throttle.attempt(guesser, revoked));
    throttle.accepted(revoked); // 1 counted
    assertNull(throttle.attempt(guesser, revoked));
    throttle.failed(guesser, revoked); // 2
    assertNull(throttle.attempt(guesser, revoked)); // 3, no longer known
    throttle.failed(guesser, revoked);
    assertNotNull(throttle.attempt(guesser, revoked));
  }

  @Test
  void anIpv6ClientIsCountedByItsSlash64() {
    for (int i = 0; i < 3; i++) {
      assertEquals(true, guess(ip("2001:db8:1:2::" + Integer.toHexString(i + 1)), "g" + i));
    }
    assertNotNull(throttle.attempt(ip("2001:db8:1:2:ffff::9"), "g3"), "same /64");
    assertNull(throttle.attempt(ip("2001:db8:1:3::1"), "g4"), "another /64");
  }

  @Test
  void memoryIsBoundedWhateverTheNumberOfAddressesAndKeys() {
    for (int i = 0; i < 5_000; i++) {
      guess(ip("10.0." + (i / 250) + "." + (i % 250)), "guess-" + i);
    }
    assertEquals(100, throttle.trackedAddresses());
    for (int i = 0; i < CredentialThrottle.MAX_REMEMBERED + 500; i++) {
      throttle.accepted("key-" + i);
    }
    assertEquals(CredentialThrottle.MAX_REMEMBERED, throttle.rememberedCredentials());
  }

  @Test
  void theOldestAddressIsForgottenFirst() {
    for (int i = 0; i < 3; i++) {
      guess(guesser, "guess-" + i);
    }
    assertNotNull(throttle.attempt(guesser, "guess-3"));
    for (int i = 0; i < 99; i++) {
      guess(ip("10.1.0." + i), "other-" + i);
    }
    assertNotNull(throttle.attempt(guesser, "guess-4"), "99 newer ones: still tracked");
    for (int i = 0; i < 100; i++) {
      guess(ip("10.2.0." + i), "other-" + i);
    }
    assertNull(throttle.attempt(guesser, "guess-5"), "100 newer ones: forgotten");
  }

  @Test
  void limitZeroCountsAndRemembersNothing() {
    CredentialThrottle off = new CredentialThrottle(0, MINUTE, 100, clock);
    for (int i = 0; i < 100; i++) {
      assertNull(off.attempt(guesser, "guess-" + i));
      off.failed(guesser, "guess-" + i);
      off.accepted("key-" + i);
    }
    assertEquals(0, off.trackedAddresses());
    assertEquals(0, off.rememberedCredentials());
  }
}
