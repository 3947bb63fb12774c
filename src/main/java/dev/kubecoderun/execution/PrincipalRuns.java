package dev.kubecoderun.execution;

import dev.kubecoderun.auth.Principal;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The runs each principal has in progress on this replica, from the moment the run holds its
 * session (its wait for a slot included) to the run's end, capped for a LibreChat user (a JWT
 * principal: JWT_MAX_CONCURRENT_EXECUTIONS) and, when set, for a managed API key
 * (API_KEY_MAX_CONCURRENT_EXECUTIONS). Runs queued behind their session's lock are not counted:
 * they hold no slot, and an agent's parallel calls, which share a session, must queue there rather
 * than be refused. A principal so holds at most its cap of slots. Without a cap one of them could
 * hold every execution slot: a programmatic run waiting for its tools' results holds its slot for
 * up to PTC_CONTINUATION_TIMEOUT_SECONDS at a time, and costs its client nothing while it waits.
 * The env keys (API_KEY, API_KEYS) and the anonymous principal are never capped: each is the
 * operator's own deployment (every user of a LibreChat), as they have no rate limits either.
 */
public final class PrincipalRuns {
  /** A place taken; closed (once) when the run ends. */
  public interface Place extends AutoCloseable {
    @Override
    void close();
  }

  private static final Place UNCOUNTED = () -> {};

  private final int maxPerUser;
  private final int maxPerManagedKey;
  private final Set<String> envKeys;
  private final Map<String, Integer> running = new ConcurrentHashMap<>();

  /**
   * @param maxPerUser the runs of a LibreChat user (a JWT principal)
   * @param maxPerManagedKey the runs of a managed API key; 0: not capped
   * @param envKeys the principals ({@link Principal#user()}) of the env keys, never capped
   */
  public PrincipalRuns(int maxPerUser, int maxPerManagedKey, Set<String> envKeys) {
    this.maxPerUser = maxPerUser;
    this.maxPerManagedKey = maxPerManagedKey;
    this.envKeys = Set.copyOf(envKeys);
  }

  /** Nothing capped (a unit test's service). */
  public static PrincipalRuns uncapped() {
    return new PrincipalRuns(0, 0, Set.of());
  }

  private int max(Principal p) {
    return switch (p.source()) {
      case JWT -> maxPerUser;
      case API_KEY -> envKeys.contains(p.user()) ? 0 : maxPerManagedKey;
      case ANONYMOUS -> 0;
    };
  }

  /**
   * A place for a run of {@code principal}.
   *
   * @throws TooManyRunsException when it has its most runs in progress here already
   */
  public Place enter(Principal principal) {
    int max = max(principal);
    if (max <= 0) {
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
      boolean jwt = principal.source() == Principal.Source.JWT;
      throw new TooManyRunsException(
          max,
          jwt ? "this user" : "this API key",
          jwt ? "JWT_MAX_CONCURRENT_EXECUTIONS" : "API_KEY_MAX_CONCURRENT_EXECUTIONS");
    }
    AtomicBoolean left = new AtomicBoolean();
    return () -> {
      if (left.compareAndSet(false, true)) {
        running.computeIfPresent(user, (k, n) -> n <= 1 ? null : n - 1);
      }
    };
  }
}
