package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.AbstractSandbox;
import dev.kubecoderun.sandbox.RunnerClient;
import java.util.concurrent.atomic.AtomicBoolean;

/** A sandbox pod (a pool pod, or the pod of a one-run Job); closing it deletes the object. */
final class KubernetesSandbox extends AbstractSandbox {
  private final PodWatcher watcher;
  private final Runnable delete;
  private final PodLifetime lifetime;
  private final AtomicBoolean closed = new AtomicBoolean();

  /**
   * @param name the sandbox name: the pod's, or the Job's for a Job
   * @param delete deletes the pod or Job and frees its slot; run once
   * @param lifetime when the pod dies of old age
   */
  KubernetesSandbox(
      String name,
      Language language,
      RunnerClient runner,
      PodWatcher watcher,
      Runnable delete,
      PodLifetime lifetime) {
    super(name, language, runner);
    this.watcher = watcher;
    this.delete = delete;
    this.lifetime = lifetime;
  }

  /**
   * Alive, and with time left for a run: a pod that {@code activeDeadlineSeconds} would kill during
   * a run started now counts as dead already, so the pool (or the session's keeping) replaces it.
   */
  @Override
  public boolean isAlive() {
    return !closed.get() && lifetime.enoughForARun() && watcher.alive(id());
  }

  @Override
  public void onExit(Runnable callback) {
    watcher.onGone(id(), callback);
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      delete.run();
    }
  }
}
