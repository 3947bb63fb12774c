package dev.kubecoderun.sandbox.local;

import dev.kubecoderun.files.LocalDisk;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.AbstractSandbox;
import dev.kubecoderun.sandbox.RunnerClient;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/** A runner process on loopback with its own folder; closing it kills the process tree. */
final class LocalSandbox extends AbstractSandbox {
  private final Process process;
  private final Path dir;
  private final Consumer<LocalSandbox> onClose;

  LocalSandbox(
      String id,
      Language language,
      Process process,
      RunnerClient runner,
      Path dir,
      Consumer<LocalSandbox> onClose) {
    super(id, language, runner);
    this.process = process;
    this.dir = dir;
    this.onClose = onClose;
  }

  @Override
  public boolean isAlive() {
    return process.isAlive();
  }

  @Override
  public void onExit(Runnable callback) {
    process.onExit().thenRun(callback);
  }

  @Override
  public void close() {
    kill(process);
    LocalDisk.deleteTree(dir);
    onClose.accept(this);
  }

  static void kill(Process process) {
    // Descendants first: bwrap children die with their parent, but be thorough.
    process.descendants().forEach(ProcessHandle::destroyForcibly);
    process.destroyForcibly();
    try {
      process.waitFor(5, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
