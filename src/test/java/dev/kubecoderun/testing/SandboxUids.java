package dev.kubecoderun.testing;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;

/**
 * The host uids of the test servers' local sandboxes. A jail refuses a uid range that overlaps
 * another running jail's on the host (docs/operations.md, "Security model"), and test servers run
 * side by side: several in this JVM (the shared ones stay up), others in other JVMs (test runs of
 * other checkouts). So each server gets a range of its own, from a block of 32 this JVM's pid
 * picks, above the default range (scripts/run, scripts/bench) and the runner's jail tests' ranges,
 * below the Kubernetes sandboxes' (K8S_SANDBOX_UIDS); a server refused for a range another JVM's
 * jail holds is started with the next range.
 */
public final class SandboxUids {
  public static final int COUNT = 256;
  private static final int FIRST = 300_000_000;
  private static final AtomicInteger NEXT =
      new AtomicInteger((int) (ProcessHandle.current().pid() % 32768) * 32);

  private SandboxUids() {}

  /**
   * {@code start(env)} with SANDBOX_UID_BASE and SANDBOX_UID_COUNT of a range of its own (of {@code
   * env}'s SANDBOX_UID_COUNT, at most {@link #COUNT}, if it names one), unless {@code env} names
   * SANDBOX_UID_BASE.
   */
  public static <T> T start(Map<String, String> env, Function<Map<String, String>, T> start) {
    if (env.containsKey("SANDBOX_UID_BASE")) {
      return start.apply(env);
    }
    for (int tries = 1; ; tries++) {
      Map<String, String> e = new HashMap<>(env);
      e.put("SANDBOX_UID_BASE", Integer.toString(FIRST + NEXT.getAndIncrement() * COUNT));
      e.putIfAbsent("SANDBOX_UID_COUNT", Integer.toString(COUNT));
      try {
        return start.apply(e);
      } catch (IllegalStateException ex) {
        String why = ex.getMessage();
        if (tries == 16 || why == null || !why.contains("of another running jail")) {
          throw ex;
        }
      }
    }
  }
}
