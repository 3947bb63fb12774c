package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerClient;
import java.net.URI;
import java.time.Duration;
import java.util.concurrent.ScheduledThreadPoolExecutor;

/**
 * Sandboxes on a watch fed by hand ({@link PodWatcherTest#unstartedWatcher}), with their own timer
 * thread, as the factory makes them: for the unit tests of a sandbox's answers. Their runner is
 * never called, and their delete does nothing. Closing stops the timers and the watch.
 */
final class HandFedSandboxes implements AutoCloseable {
  final PodWatcher watcher = PodWatcherTest.unstartedWatcher();
  final ScheduledThreadPoolExecutor timers = KubernetesSandboxFactory.timers();

  /** A sandbox with an hour of life from now, of which a run needs two minutes. */
  KubernetesSandbox sandbox(String name) {
    return sandbox(
        name,
        PodLifetime.startingNow(System::nanoTime, Duration.ofHours(1), Duration.ofMinutes(2)));
  }

  KubernetesSandbox sandbox(String name, PodLifetime lifetime) {
    return new KubernetesSandbox(
        name,
        Language.PY,
        new RunnerClient(null, URI.create("http://127.0.0.1:1"), "t"),
        watcher,
        () -> {},
        lifetime,
        timers);
  }

  @Override
  public void close() {
    timers.shutdownNow();
    watcher.close();
  }
}
