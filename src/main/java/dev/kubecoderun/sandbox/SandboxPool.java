package dev.kubecoderun.sandbox;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.metrics.Metrics;
import java.time.Duration;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.ToIntFunction;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Warm sandboxes per language, each used once. Taking one starts its replacement at once (no
 * polling); creations run on virtual threads, at most {@code parallelStarts} at a time so a burst
 * does not starve the machine. A language with pool size 0 gets a sandbox started on demand; so
 * does any language whose pool stays empty past the wait.
 */
public final class SandboxPool implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(SandboxPool.class.getName());
  private static final Duration RETRY_DELAY = Duration.ofSeconds(2);

  private final SandboxFactory factory;
  private final ToIntFunction<Language> targetSize;
  private final Duration poolWait;
  private final Semaphore starts;
  private final ExecutorService background = Executors.newVirtualThreadPerTaskExecutor();
  private final Map<Language, LinkedBlockingQueue<Sandbox>> ready = new EnumMap<>(Language.class);
  private final Map<Language, AtomicInteger> starting = new EnumMap<>(Language.class);
  private final Map<Language, AtomicInteger> inUse = new EnumMap<>(Language.class);
  private final Metrics metrics;
  private final AtomicLong hits = new AtomicLong();
  private final AtomicLong misses = new AtomicLong();
  private volatile boolean closed;

  public SandboxPool(
      SandboxFactory factory,
      ToIntFunction<Language> targetSize,
      int parallelStarts,
      Duration poolWait) {
    this(factory, targetSize, parallelStarts, poolWait, Metrics.unbound());
  }

  public SandboxPool(
      SandboxFactory factory,
      ToIntFunction<Language> targetSize,
      int parallelStarts,
      Duration poolWait,
      Metrics metrics) {
    this.factory = factory;
    this.targetSize = targetSize;
    this.poolWait = poolWait;
    this.starts = new Semaphore(parallelStarts);
    this.metrics = metrics;
    for (Language l : Language.values()) {
      ready.put(l, new LinkedBlockingQueue<>());
      starting.put(l, new AtomicInteger());
      inUse.put(l, new AtomicInteger());
      metrics.pool(
          l.code(),
          () -> targetSize.applyAsInt(l),
          () -> ready.get(l).size(),
          () -> inUse.get(l).get(),
          () -> starting.get(l).get());
    }
  }

  /** Starts filling every pool in the background. */
  public void start() {
    for (Language l : Language.values()) {
      refill(l);
    }
  }

  /** A live sandbox for {@code language}: a warm one when the pool has it, else a new one. */
  public Sandbox acquire(Language language) throws SandboxException, InterruptedException {
    if (closed) {
      throw new SandboxException("the service is shutting down");
    }
    long asked = System.nanoTime();
    if (targetSize.applyAsInt(language) > 0) {
      long deadline = System.nanoTime() + poolWait.toNanos();
      LinkedBlockingQueue<Sandbox> queue = ready.get(language);
      while (true) {
        long left = deadline - System.nanoTime();
        Sandbox s = queue.poll(Math.max(0, left), TimeUnit.NANOSECONDS);
        if (s == null) {
          break;
        }
        refill(language);
        if (s.isAlive()) {
          hits.incrementAndGet();
          inUse.get(language).incrementAndGet();
          metrics.sandboxWait(language.code(), "pool", System.nanoTime() - asked);
          return s;
        }
        LOG.warning("discarding dead sandbox " + s.id());
        destroy(s);
      }
    }
    misses.incrementAndGet();
    long start = System.nanoTime();
    Sandbox s;
    try {
      s = factory.create(language, false);
    } catch (SandboxException | RuntimeException e) {
      metrics.sandboxStart(language.code(), "on_demand", false, System.nanoTime() - start);
      throw e;
    }
    long now = System.nanoTime();
    metrics.sandboxStart(language.code(), "on_demand", true, now - start);
    metrics.sandboxWait(language.code(), "new", now - asked);
    inUse.get(language).incrementAndGet();
    return s;
  }

  /** Destroys a used sandbox in the background. */
  public void release(Sandbox sandbox) {
    inUse.get(sandbox.language()).decrementAndGet();
    if (closed) {
      destroy(sandbox);
      return;
    }
    background.submit(() -> destroy(sandbox));
  }

  /** Starts as many sandboxes as the pool is missing. */
  private void refill(Language language) {
    if (closed) {
      return;
    }
    int missing =
        targetSize.applyAsInt(language) - ready.get(language).size() - starting.get(language).get();
    for (int i = 0; i < missing; i++) {
      starting.get(language).incrementAndGet();
      background.submit(() -> startOne(language));
    }
  }

  private void startOne(Language language) {
    boolean counted = false;
    boolean failed = false;
    try {
      starts.acquire();
      try {
        if (closed) {
          return;
        }
        long start = System.nanoTime();
        Sandbox s;
        try {
          s = factory.create(language, true);
        } catch (SandboxException | RuntimeException e) {
          metrics.sandboxStart(language.code(), "warm", false, System.nanoTime() - start);
          throw e;
        }
        metrics.sandboxStart(language.code(), "warm", true, System.nanoTime() - start);
        // No longer "starting" before it is visible as ready: a request that wakes up on the
        // add must see the pool one short, or it would not start the replacement.
        starting.get(language).decrementAndGet();
        counted = true;
        if (closed) {
          destroy(s);
        } else {
          ready.get(language).add(s);
          // A warm sandbox that dies while it waits is replaced at once, not when someone takes it.
          s.onExit(() -> replaceDead(language, s));
        }
      } finally {
        starts.release();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } catch (SandboxException | RuntimeException e) {
      failed = true;
      LOG.log(Level.WARNING, "cannot start a " + language.code() + " sandbox: " + e.getMessage());
    } finally {
      if (!counted) {
        starting.get(language).decrementAndGet();
      }
    }
    if (failed && !closed) {
      // Back off so a broken toolchain does not turn into a busy loop.
      try {
        Thread.sleep(RETRY_DELAY);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      refill(language);
    }
  }

  private void replaceDead(Language language, Sandbox s) {
    if (ready.get(language).remove(s)) {
      LOG.warning("warm sandbox " + s.id() + " died; replacing it");
      destroy(s);
      refill(language);
    }
  }

  private static void destroy(Sandbox s) {
    try {
      s.close();
    } catch (RuntimeException e) {
      LOG.log(Level.WARNING, "cannot destroy sandbox " + s.id(), e);
    }
  }

  /** Per-language {@code ready/target} counts and hit/miss totals, for health and metrics. */
  public Map<String, Object> stats() {
    Map<String, Object> out = new LinkedHashMap<>();
    Map<String, Object> pools = new LinkedHashMap<>();
    for (Language l : Language.values()) {
      int target = targetSize.applyAsInt(l);
      if (target > 0) {
        pools.put(
            l.code(),
            Map.of(
                "ready", ready.get(l).size(),
                "starting", starting.get(l).get(),
                "in_use", inUse.get(l).get(),
                "target", target));
      }
    }
    out.put("backend", factory.name());
    out.put("pools", pools);
    out.put("hits", hits.get());
    out.put("misses", misses.get());
    return out;
  }

  /** One language's pool right now. */
  public record PoolState(String language, int target, int ready, int starting, int inUse) {}

  /** Every language's pool, those with no warm sandboxes included. */
  public java.util.List<PoolState> states() {
    java.util.List<PoolState> out = new java.util.ArrayList<>();
    for (Language l : Language.values()) {
      out.add(
          new PoolState(
              l.code(),
              targetSize.applyAsInt(l),
              ready.get(l).size(),
              starting.get(l).get(),
              inUse.get(l).get()));
    }
    return out;
  }

  /** The backend's name: local or kubernetes. */
  public String backend() {
    return factory.name();
  }

  /** Ready sandboxes of a language (for readiness checks and tests). */
  public int readyCount(Language language) {
    return ready.get(language).size();
  }

  @Override
  public void close() {
    closed = true;
    // Interrupts sandboxes still starting (they kill their process) and lets destroys finish.
    background.shutdownNow();
    try {
      background.awaitTermination(30, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    for (LinkedBlockingQueue<Sandbox> q : ready.values()) {
      Sandbox s;
      while ((s = q.poll()) != null) {
        destroy(s);
      }
    }
    factory.close();
  }
}
