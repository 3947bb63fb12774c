package dev.kubecoderun.execution;

import dev.kubecoderun.auth.Principal;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The runs each LibreChat user (a JWT principal) has in progress on this replica, from the moment
 * they ask for one (waiting for their session or a slot included) to their end, at most {@code max}
 * (JWT_MAX_CONCURRENT_EXECUTIONS). Without it one user could hold every execution slot: a
 * programmatic run waiting for its tools' results holds its slot for up to
 * PTC_CONTINUATION_TIMEOUT_SECONDS at a time, and costs its client nothing while it waits. API keys
 * and the anonymous principal are not counted: each is a whole deployment (every user of a
 * LibreChat), as with rate limits, where env keys have none.
 */
public final class PrincipalRuns {
  /** A place taken; closed when the run ends. */
  public interface Place extends AutoCloseable {
    @Override
    void close();
  }

  private static final Place UNCOUNTED = () -> {};

  private final int max;
  private final Map<String, Integer> running = new ConcurrentHashMap<>();

  public PrincipalRuns(int max) {
    this.max = max;
  }

  /**
   * A place for a run of {@code principal}.
   *
   * @throws TooManyRunsException when it has {@code max} runs in progress here already
   */
  public Place enter(Principal principal) {
    if (principal.source() != Principal.Source.JWT) {
      return UNCOUNTED;
    }
    String user = principal.user();
    boolean[] taken = {false};
    running.compute(
        user,
        (k, n) -> {
          int now = n == null ? 0 : n;
          if (now >= max) {
            return n;
          }
          taken[0] = true;
          return now + 1;
        });
    if (!taken[0]) {
      throw new TooManyRunsException(max);
    }
    AtomicBoolean left = new AtomicBoolean();
    return () -> {
      if (left.compareAndSet(false, true)) {
        running.computeIfPresent(user, (k, n) -> n <= 1 ? null : n - 1);
      }
    };
  }

  /** The runs {@code principal} has in progress (tests). */
  int of(Principal principal) {
    return running.getOrDefault(principal.user(), 0);
  }
}
