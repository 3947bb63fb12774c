package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.AbstractSandbox;
import dev.kubecoderun.sandbox.RunnerClient;
import java.util.concurrent.atomic.AtomicBoolean;

/** A sandbox pod (a pool pod, or the pod of a one-run Job); closing it deletes the object. */
final class KubernetesSandbox extends AbstractSandbox {
  private final PodWatcher watcher;
  private final Runnable delete;
  private final AtomicBoolean closed = new AtomicBoolean();

  /**
   * @param name the sandbox name: the pod's, or the Job's for a Job
   * @param delete deletes the pod or Job and frees its slot; run once
   */
  KubernetesSandbox(
      String name, Language language, RunnerClient runner, PodWatcher watcher, Runnable delete) {
    super(name, language, runner);
    this.watcher = watcher;
    this.delete = delete;
  }

  @Override
  public boolean isAlive() {
    return !closed.get() && watcher.alive(id());
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
