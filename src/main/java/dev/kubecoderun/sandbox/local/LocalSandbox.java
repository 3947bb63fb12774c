package dev.kubecoderun.sandbox.local;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.AbstractSandbox;
import dev.kubecoderun.sandbox.RunnerClient;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * One sandbox of the jail server. It is alive while the jail process and the sandbox's holder (PID
 * 1 of its jail, whose death takes everything in the sandbox with it) are.
 */
final class LocalSandbox extends AbstractSandbox {
  private final JailServer.Created created;
  private final Optional<ProcessHandle> holder;
  private final Consumer<LocalSandbox> onClose;
  private final AtomicBoolean closed = new AtomicBoolean();

  LocalSandbox(
      JailServer.Created created,
      Language language,
      RunnerClient runner,
      Consumer<LocalSandbox> onClose) {
    super(created.id(), language, runner);
    this.created = created;
    this.holder = ProcessHandle.of(created.holderPid());
    this.onClose = onClose;
  }

  JailServer.Instance jail() {
    return created.instance();
  }

  @Override
  public boolean isAlive() {
    return !closed.get()
        && created.instance().process().isAlive()
        && holder.map(ProcessHandle::isAlive).orElse(false);
  }

  @Override
  public void onExit(Runnable callback) {
    CompletableFuture<?> holderGone =
        holder
            .map(h -> (CompletableFuture<?>) h.onExit())
            .orElse(CompletableFuture.completedFuture(null));
    CompletableFuture.anyOf(created.instance().process().onExit(), holderGone).thenRun(callback);
  }

  @Override
  public void close() {
    if (closed.compareAndSet(false, true)) {
      onClose.accept(this);
    }
  }
}
