package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.AbstractSandbox;
import dev.kubecoderun.sandbox.RunnerClient;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/** A sandbox pod (a pool pod, or the pod of a one-run Job); closing it deletes the object. */
final class KubernetesSandbox extends AbstractSandbox {
  private final PodWatcher watcher;
  private final Runnable delete;
  private final PodLifetime lifetime;
  private final ScheduledExecutorService timers;
  private final AtomicBoolean closed = new AtomicBoolean();
  private volatile ScheduledFuture<?> tooOld; // the onExit call at the end of its useful life

  /**
   * @param name the sandbox name: the pod's, or the Job's for a Job
   * @param delete deletes the pod or Job and frees its slot; run once
   * @param lifetime when the pod dies of old age
   * @param timers where the exit callback waits for the pod to be too old for a run
   */
  KubernetesSandbox(
      String name,
      Language language,
      RunnerClient runner,
      PodWatcher watcher,
      Runnable delete,
      PodLifetime lifetime,
      ScheduledExecutorService timers) {
    super(name, language, runner);
    this.watcher = watcher;
    this.delete = delete;
    this.lifetime = lifetime;
    this.timers = timers;
  }

  /**
   * Alive, Ready, and with time left for a run: a pod that {@code activeDeadlineSeconds} would kill
   * during a run started now counts as dead already, as does one no longer Ready (its node
   * NotReady: a run would fail against a runner out of reach), so the pool (or the session's
   * keeping) replaces it. Made only once its pod was Ready, so never asked of a pod still starting.
   */
  @Override
  public boolean isAlive() {
    return !closed.get() && lifetime.enoughForARun() && watcher.serving(id());
  }

  /** Too near its deadline for a run: what {@link #onExit} says ahead of the pod's death. */
  @Override
  public boolean retired() {
    return !lifetime.enoughForARun();
  }

  /**
   * Runs {@code callback} once, when the pod dies, is no longer Ready, or no longer has a run's
   * time left, whichever comes first: when {@link #isAlive} turns false. The second is said as it
   * happens, not when someone asks {@link #isAlive}: a pool replaces such a pod ahead of time
   * instead of counting it ready while it can serve no run, until a request finds it and deletes it
   * in its own path.
   */
  @Override
  public void onExit(Runnable callback) {
    AtomicBoolean fired = new AtomicBoolean();
    Runnable once =
        () -> {
          if (fired.compareAndSet(false, true)) {
            callback.run();
          }
        };
    watcher.onGone(id(), once);
    // On a thread of its own: the callback may delete the pod (a blocking API call), which must
    // not hold up the other pods' timers.
    tooOld =
        timers.schedule(
            () -> Thread.ofVirtual().name("kcr-too-old-" + id()).start(once),
            lifetime.untilTooOldForARun().toNanos(),
            TimeUnit.NANOSECONDS);
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      ScheduledFuture<?> timer = tooOld;
      if (timer != null) {
        timer.cancel(false); // a pod taken for a run: its timer would hold it for an hour or more
      }
      delete.run();
    }
  }
}
