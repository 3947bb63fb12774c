package dev.kubecoderun.sandbox;

import dev.kubecoderun.language.Language;

/** What every sandbox has from its start, on any backend: its id, language and runner client. */
public abstract class AbstractSandbox implements Sandbox {
  private final String id;
  private final Language language;
  private final RunnerClient runner;

  protected AbstractSandbox(String id, Language language, RunnerClient runner) {
    this.id = id;
    this.language = language;
    this.runner = runner;
  }

  @Override
  public final String id() {
    return id;
  }

  @Override
  public final Language language() {
    return language;
  }

  @Override
  public final RunnerClient runner() {
    return runner;
  }
}
