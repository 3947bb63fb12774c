package dev.kubecoderun.auth;

import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Per-principal request limits in fixed UTC windows (per second ... monthly), counted in the key
 * store so every replica sees the same counts: a window is counted and checked in one atomic
 * increment, so two replicas can never both let the last allowed request through; when a later
 * window refuses, the windows already counted are given back.
 */
public final class RateLimiter {
  /** Where a principal stands in its tightest window, for the RateLimit-* headers. */
  public record Status(RateWindow window, long limit, long remaining, Instant resetAt) {}

  /** The outcome of one request. */
  public sealed interface Decision {}

  /** Within its limits; {@code status} is null when the principal has none. */
  public record Within(Status status) implements Decision {}

  /** {@code window} is full ({@code used} of {@code limit}) until {@code resetAt}. */
  public record Limited(RateWindow window, long limit, long used, Instant resetAt)
      implements Decision {}

  private final ApiKeyStore store;
  private final Clock clock;

  public RateLimiter(ApiKeyStore store, Clock clock) {
    this.store = store;
    this.clock = clock;
  }

  /**
   * Counts one request of {@code principal} against {@code limits} (a missing window is unlimited).
   *
   * @throws java.io.UncheckedIOException when the key store cannot be reached
   */
  public Decision consume(Principal principal, Map<RateWindow, Long> limits) {
    if (limits.isEmpty()) {
      return new Within(null);
    }
    Instant now = clock.instant();
    String id = principal.shortId();
    List<String> counted = new ArrayList<>();
    Status tightest = null;
    for (RateWindow w : RateWindow.values()) {
      Long limit = limits.get(w);
      if (limit == null) {
        continue;
      }
      String counter = w.counter(now);
      long used = store.increment(id, counter, w.counterTtl());
      counted.add(counter);
      if (used > limit) {
        for (String c : counted) {
          store.decrement(id, c);
        }
        return new Limited(w, limit, used - 1, w.resetAt(now));
      }
      Status s = new Status(w, limit, limit - used, w.resetAt(now));
      if (tightest == null || s.remaining() < tightest.remaining()) {
        tightest = s;
      }
    }
    return new Within(tightest);
  }
}
