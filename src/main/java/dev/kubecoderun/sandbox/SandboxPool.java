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
 * does any language whose pool stays empty past the wait. With a demand cap the pool sizes follow
 * demand (PoolDemand): the configured size at least, more while recent use needs it, fewer again
 * when it fades.
 */
public final class SandboxPool implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(SandboxPool.class.getName());
  // After a failed start, a language's pool is refilled again after this, doubling with every
  // start that fails in a row up to the cap: a start that fails at once (an image that cannot be
  // pulled) would otherwise be tried again every few seconds for good, hold the parallel-start
  // slots the other languages' pools wait for, and pull from the registry as often.
  private static final Duration RETRY_DELAY = Duration.ofSeconds(2);
  private static final Duration RETRY_DELAY_MAX = Duration.ofMinutes(1);

  private static final Duration RESIZE_INTERVAL = Duration.ofSeconds(10);

  private final SandboxFactory factory;
  private final ToIntFunction<Language> targetSize;
  private final PoolDemand demand; // null: fixed sizes
  private final Duration poolWait;
  private final Semaphore starts;
  private final ExecutorService background = Executors.newVirtualThreadPerTaskExecutor();
  // Destroys apart from the starts: a stop interrupts the starts, never a delete half-sent.
  private final ExecutorService destroys = Executors.newVirtualThreadPerTaskExecutor();
  private final Map<Language, LinkedBlockingQueue<Sandbox>> ready = new EnumMap<>(Language.class);
  private final Map<Language, AtomicInteger> starting = new EnumMap<>(Language.class);
  private final Map<Language, AtomicInteger> inUse = new EnumMap<>(Language.class);
  private final Map<Language, Backoff> backoff = new EnumMap<>(Language.class);
  private volatile Duration retryDelay = RETRY_DELAY;
  private volatile Duration retryDelayMax = RETRY_DELAY_MAX;
  private final Metrics metrics;
  private final AtomicLong hits = new AtomicLong();
  private final AtomicLong misses = new AtomicLong();
  private volatile boolean closed;
  private volatile boolean stopping; // the service is stopping: no refill, start failures quiet

  public SandboxPool(
      SandboxFactory factory,
      ToIntFunction<Language> targetSize,
      int parallelStarts,
      Duration poolWait) {
    this(factory, targetSize, parallelStarts, poolWait, 0, Metrics.unbound());
  }

  /**
   * @param demandCap above 0: the pool sizes follow demand, all pools and the sandboxes in use
   *     together within this many (K8S_MAX_PODS); 0: the sizes of {@code targetSize}
   */
  public SandboxPool(
      SandboxFactory factory,
      ToIntFunction<Language> targetSize,
      int parallelStarts,
      Duration poolWait,
      int demandCap,
      Metrics metrics) {
    this.factory = factory;
    this.metrics = metrics;
    this.demand = demandCap > 0 ? new PoolDemand(targetSize, demandCap) : null;
    this.targetSize = demand != null ? demand : targetSize;
    this.poolWait = poolWait;
    this.starts = new Semaphore(parallelStarts);
    for (Language l : Language.values()) {
      ready.put(l, new LinkedBlockingQueue<>());
      starting.put(l, new AtomicInteger());
      inUse.put(l, new AtomicInteger());
      backoff.put(l, new Backoff());
      metrics.pool(
          l.code(),
          () -> this.targetSize.applyAsInt(l),
          () -> ready.get(l).size(),
          () -> inUse.get(l).get(),
          () -> starting.get(l).get());
    }
  }

  /** Starts filling every pool in the background (and, following demand, resizing them). */
  public void start() {
    for (Language l : Language.values()) {
      refill(l);
    }
    if (demand != null) {
      background.submit(this::resizeLoop);
    }
  }

  /** Grows or shrinks the pools as demand changes, also while no request comes. */
  private void resizeLoop() {
    while (!closed) {
      try {
        Thread.sleep(RESIZE_INTERVAL);
      } catch (InterruptedException e) {
        return;
      }
      for (Language l : Language.values()) {
        refill(l);
      }
    }
  }

  /** A live sandbox for {@code language}: a warm one when the pool has it, else a new one. */
  public Sandbox acquire(Language language) throws SandboxException, InterruptedException {
    if (closed) {
      throw new SandboxException("the service is shutting down");
    }
    if (demand != null) {
      demand.taken(language);
    }
    boolean got = false;
    try {
      Sandbox s = take(language);
      got = true;
      return s;
    } finally {
      if (!got && demand != null) {
        demand.returned(language);
      }
    }
  }

  private Sandbox take(Language language) throws SandboxException, InterruptedException {
    long asked = System.nanoTime();
    // Asked before a sandbox leaves the pool, so warm ones made while the backend was undecided
    // stay there until it allows them.
    refuseIfTheBackendDoes();
    if (targetSize.applyAsInt(language) > 0) {
      if (demand != null) {
        refill(language); // the target may have grown since the last take
      }
      // Nothing to wait for while the pool backs off with no start under way: start one now.
      boolean nothingComing = backoff.get(language).active() && starting.get(language).get() == 0;
      long deadline = System.nanoTime() + (nothingComing ? 0 : poolWait.toNanos());
      LinkedBlockingQueue<Sandbox> queue = ready.get(language);
      while (true) {
        long left = deadline - System.nanoTime();
        Sandbox s = queue.poll(Math.max(0, left), TimeUnit.NANOSECONDS);
        if (s == null) {
          break;
        }
        refill(language);
        if (s.isAlive()) {
          try {
            refuseIfTheBackendDoes(); // again: the backend may have refused while this waited
          } catch (SandboxException e) {
            destroy(s);
            throw e;
          }
          hits.incrementAndGet();
          inUse.get(language).incrementAndGet();
          metrics.sandboxWait(language.code(), "pool", System.nanoTime() - asked);
          return s;
        }
        LOG.warning("discarding dead sandbox " + s.id());
        destroyLater(s); // its delete is no part of this request's wait
      }
    }
    misses.incrementAndGet();
    Sandbox s = create(language, false);
    metrics.sandboxWait(language.code(), "new", System.nanoTime() - asked);
    inUse.get(language).incrementAndGet();
    // This use may be what gives the language a pool; or its start ended a back-off, whose
    // refill is not due yet.
    refill(language);
    return s;
  }

  /**
   * Why the backend gives no sandbox to a run right now, or null: then no sandbox is handed out,
   * neither from the pool nor kept by a session.
   */
  public String refusal() {
    return factory.refusal();
  }

  /** Why the backend cannot take work yet, or null ({@link SandboxFactory#notReady}). */
  public String notReady() {
    return factory.notReady();
  }

  private void refuseIfTheBackendDoes() throws SandboxException {
    String refused = factory.refusal();
    if (refused != null) {
      throw new SandboxException(refused);
    }
  }

  /** A new sandbox from the factory; how long it took goes to the metrics and the demand. */
  private Sandbox create(Language language, boolean warm) throws SandboxException {
    String kind = warm ? "warm" : "on_demand";
    long began = System.nanoTime();
    Sandbox s;
    try {
      s = factory.create(language, warm);
    } catch (SandboxException | RuntimeException e) {
      metrics.sandboxStart(language.code(), kind, false, System.nanoTime() - began);
      throw e;
    }
    long took = System.nanoTime() - began;
    metrics.sandboxStart(language.code(), kind, true, took);
    backoff.get(language).succeeded(); // starts work again: the pool refills as usual
    if (demand != null) {
      demand.refilled(language, Duration.ofNanos(took));
    }
    return s;
  }

  /**
   * A used sandbox kept for its session's next run (SessionSandboxes): not in use, so not demand
   * for the pool, until {@link #unparked}.
   */
  void parked(Sandbox sandbox) {
    if (demand != null) {
      demand.returned(sandbox.language());
    }
  }

  /** A kept sandbox taken again by its session (or given back: {@link #release} follows). */
  void unparked(Sandbox sandbox) {
    if (demand != null) {
      demand.taken(sandbox.language());
    }
  }

  /** Destroys a used sandbox in the background. */
  public void release(Sandbox sandbox) {
    inUse.get(sandbox.language()).decrementAndGet();
    if (demand != null) {
      demand.returned(sandbox.language());
    }
    destroyLater(sandbox);
  }

  /** Destroys in the background; once the pool is closing, right here. */
  private void destroyLater(Sandbox sandbox) {
    if (!closed) {
      try {
        destroys.submit(() -> destroy(sandbox));
        return;
      } catch (java.util.concurrent.RejectedExecutionException e) {
        // closed meanwhile
      }
    }
    destroy(sandbox);
  }

  /**
   * Starts as many sandboxes as the pool is missing; one that has more ready than its target
   * (demand faded) gives the extra back.
   */
  private void refill(Language language) {
    if (closed || stopping) {
      return;
    }
    int target = targetSize.applyAsInt(language);
    while (demand != null && ready.get(language).size() > target) {
      Sandbox extra = ready.get(language).poll();
      if (extra == null) {
        break;
      }
      destroyLater(extra);
    }
    if (backoff.get(language).active()) {
      return; // a request meanwhile gets a sandbox started on demand
    }
    int missing = target - ready.get(language).size() - starting.get(language).get();
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
        Sandbox s = create(language, true);
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
      // Once the service stops, a start fails as expected: the close interrupts it ("Closed by
      // interrupt"), or the jail is gone with the process group's signal.
      LOG.log(
          stopping || closed ? Level.FINE : Level.WARNING,
          "cannot start a " + language.code() + " sandbox: " + e.getMessage());
    } finally {
      if (!counted) {
        starting.get(language).decrementAndGet();
      }
    }
    if (failed && !closed) {
      // Back off so a broken toolchain (or image) does not turn into a busy loop.
      Backoff b = backoff.get(language);
      b.failed(retryDelay, retryDelayMax);
      try {
        long left;
        while ((left = b.left()) > 0) {
          TimeUnit.NANOSECONDS.sleep(left);
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
      refill(language);
    }
  }

  /**
   * A language's refill back-off: after a failed start the pool is refilled again after the first
   * delay, doubled for each round that failed again, up to the cap. One round counts once: the
   * starts of a pool of five failing together are one failure, not five doublings. Any start that
   * works (on demand too) ends it.
   */
  private static final class Backoff {
    private int rounds;
    private long until; // System.nanoTime()

    synchronized void failed(Duration first, Duration max) {
      long now = System.nanoTime();
      if (rounds > 0 && until - now > 0) {
        return; // a start of this same round: already counted
      }
      rounds++;
      Duration delay = first.multipliedBy(1L << Math.min(rounds - 1, 20));
      until = now + (delay.compareTo(max) > 0 ? max : delay).toNanos();
    }

    synchronized void succeeded() {
      rounds = 0;
    }

    /** Nanoseconds until the pool is refilled again; 0 or less when not backing off. */
    synchronized long left() {
      return rounds == 0 ? 0 : until - System.nanoTime();
    }

    boolean active() {
      return left() > 0;
    }
  }

  /** Tests: the first back-off after a failed start, and its cap. */
  void retryDelays(Duration first, Duration max) {
    this.retryDelay = first;
    this.retryDelayMax = max;
  }

  private void replaceDead(Language language, Sandbox s) {
    if (ready.get(language).remove(s)) {
      // While the service stops, warm sandboxes die with a jail that got its signal: expected. So
      // does a pod retired, too old for a run (every hour or so per pod): no warning either.
      boolean retired = s.retired();
      LOG.log(
          stopping ? Level.FINE : retired ? Level.INFO : Level.WARNING,
          "warm sandbox "
              + s.id()
              + (retired ? " is too old for a run" : " died")
              + "; replacing it");
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
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("ready", ready.get(l).size());
        p.put("starting", starting.get(l).get());
        p.put("in_use", inUse.get(l).get());
        p.put("target", target);
        if (demand != null) {
          p.put("demand", demand.describe(l));
        }
        pools.put(l.code(), p);
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

  /**
   * The service is stopping (the runs in progress may still take a sandbox): no sandbox is started
   * ahead any more, and failures that come of the backend going too are logged quietly.
   */
  public void stopping() {
    stopping = true;
    factory.stopping();
  }

  @Override
  public void close() {
    stopping();
    closed = true;
    // Interrupts sandboxes still starting (they delete what they made) and lets destroys finish.
    background.shutdownNow();
    destroys.shutdown();
    try {
      background.awaitTermination(30, TimeUnit.SECONDS);
      destroys.awaitTermination(30, TimeUnit.SECONDS);
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
