package dev.kubecoderun.sandbox;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import java.util.logging.Logger;

/**
 * Sandboxes bound to one key (a session and a language) between its runs, so the next run of the
 * same session takes a ready sandbox instead of a new one (K8S_POD_REUSE=session). A sandbox kept
 * after a run is reset at once (the runner's POST /reset: workdir and per-run scratch emptied, warm
 * interpreters started again), and serves no other key, ever. It goes back to the pool (to be
 * destroyed) when idle for {@code idle}, after {@code maxRuns} runs, or when more than {@code
 * maxKept} are kept (the least recently used first). Runs of one session go one at a time (the
 * session lock), so a kept sandbox is never taken twice.
 */
public final class SessionSandboxes implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(SessionSandboxes.class.getName());

  private final SandboxPool pool;
  private final Duration idle;
  private final int maxRuns;
  private final int maxKept;
  private final LongSupplier nanoClock;
  private final Resetter resetter;
  private final ExecutorService background = Executors.newVirtualThreadPerTaskExecutor();
  private final Map<String, Kept> kept = new HashMap<>();
  private final Map<Sandbox, Integer> runs = new HashMap<>();
  private final AtomicLong reused = new AtomicLong();
  private final AtomicLong resetFailures = new AtomicLong();
  private final Thread expiry;
  private volatile boolean closed;

  /** Makes a used sandbox like a fresh one: the runner's POST /reset. */
  interface Resetter {
    void reset(Sandbox sandbox) throws SandboxException;
  }

  /** A kept sandbox: ready once its reset is done. */
  private record Kept(Sandbox sandbox, Future<Boolean> reset, long since) {}

  public SessionSandboxes(SandboxPool pool, Duration idle, int maxRuns, int maxKept) {
    this(pool, idle, maxRuns, maxKept, System::nanoTime, s -> s.runner().reset());
  }

  SessionSandboxes(
      SandboxPool pool,
      Duration idle,
      int maxRuns,
      int maxKept,
      LongSupplier nanoClock,
      Resetter resetter) {
    this.resetter = resetter;
    this.pool = pool;
    this.idle = idle;
    this.maxRuns = maxRuns;
    this.maxKept = maxKept;
    this.nanoClock = nanoClock;
    this.expiry = Thread.ofVirtual().name("kcr-session-sandboxes").start(this::expireLoop);
  }

  /** The sandbox kept for {@code key}, reset and alive, if there is one. */
  public Optional<Sandbox> take(String key) throws InterruptedException {
    Kept k;
    synchronized (this) {
      k = kept.remove(key);
    }
    if (k == null) {
      return Optional.empty();
    }
    pool.unparked(k.sandbox());
    boolean ok;
    try {
      ok = k.reset().get(30, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
      ok = false;
    } catch (InterruptedException e) {
      // Out of the kept ones already: given back, or its pod would live on unused.
      release(k.sandbox());
      throw e;
    }
    // A backend that refuses sandboxes now (the pool then answers why) gets this one back too.
    if (!ok || !k.sandbox().isAlive() || pool.refusal() != null) {
      release(k.sandbox());
      return Optional.empty();
    }
    reused.incrementAndGet();
    return Optional.of(k.sandbox());
  }

  /**
   * After a run that ended normally: keeps the sandbox for {@code key} (reset in the background),
   * or gives it back when it has served its runs or the service is stopping.
   */
  public void keep(String key, Sandbox sandbox) {
    int n;
    synchronized (this) {
      n = runs.merge(sandbox, 1, Integer::sum);
    }
    if (closed || n >= maxRuns || !sandbox.isAlive()) {
      release(sandbox);
      return;
    }
    pool.parked(sandbox);
    Future<Boolean> reset =
        background.submit(
            () -> {
              try {
                resetter.reset(sandbox);
                return true;
              } catch (SandboxException | RuntimeException e) {
                resetFailures.incrementAndGet();
                LOG.warning("cannot reset sandbox " + sandbox.id() + ": " + e.getMessage());
                return false;
              }
            });
    List<Sandbox> evicted = new ArrayList<>();
    synchronized (this) {
      Kept old = kept.put(key, new Kept(sandbox, reset, nanoClock.getAsLong()));
      if (old != null) {
        evicted.add(old.sandbox());
      }
      while (kept.size() > maxKept) {
        evicted.add(kept.remove(leastRecentlyUsed(s -> true)).sandbox());
      }
    }
    evicted.forEach(this::releaseKept);
  }

  /**
   * Gives back the least recently used kept sandbox that {@code which} accepts, if there is one,
   * and says whether it did: a backend whose cap is full asks for one (a Job kept for its session
   * holds a slot of K8S_MAX_JOBS), so that an idle kept sandbox never makes a run wait for its
   * slot.
   */
  public boolean giveBackOldest(Predicate<Sandbox> which) {
    Kept oldest;
    synchronized (this) {
      String key = leastRecentlyUsed(which);
      if (key == null) {
        return false;
      }
      oldest = kept.remove(key);
    }
    releaseKept(oldest.sandbox());
    return true;
  }

  /** The key of the least recently used kept sandbox that {@code which} accepts, or null. */
  private synchronized String leastRecentlyUsed(Predicate<Sandbox> which) {
    return kept.entrySet().stream()
        .filter(e -> which.test(e.getValue().sandbox()))
        .min(Comparator.comparingLong(e -> e.getValue().since()))
        .map(Map.Entry::getKey)
        .orElse(null);
  }

  /** Gives back a sandbox that was kept (parked, so first counted in use again). */
  private void releaseKept(Sandbox sandbox) {
    pool.unparked(sandbox);
    release(sandbox);
  }

  /** Gives a sandbox back to the pool, which destroys it. */
  public void release(Sandbox sandbox) {
    synchronized (this) {
      runs.remove(sandbox);
    }
    pool.release(sandbox);
  }

  private void expireLoop() {
    while (!closed) {
      try {
        Thread.sleep(Math.min(idle.toMillis(), 5_000));
      } catch (InterruptedException e) {
        return;
      }
      List<Sandbox> expired = new ArrayList<>();
      long now = nanoClock.getAsLong();
      synchronized (this) {
        kept.entrySet()
            .removeIf(
                e -> {
                  boolean gone =
                      now - e.getValue().since() > idle.toNanos()
                          || !e.getValue().sandbox().isAlive();
                  if (gone) {
                    expired.add(e.getValue().sandbox());
                  }
                  return gone;
                });
      }
      expired.forEach(this::releaseKept);
    }
  }

  /** For /health/detailed. */
  public synchronized Map<String, Object> stats() {
    Map<String, Object> out = new HashMap<>();
    out.put("kept", kept.size());
    out.put("reused", reused.get());
    out.put("reset_failures", resetFailures.get());
    return out;
  }

  /** Gives every kept sandbox back (before the pool closes). */
  @Override
  public void close() {
    closed = true;
    expiry.interrupt();
    List<Sandbox> all;
    synchronized (this) {
      all = kept.values().stream().map(Kept::sandbox).toList();
      kept.clear();
    }
    all.forEach(this::releaseKept);
    background.shutdownNow();
  }
}
