package dev.kubecoderun.api;

import dev.kubecoderun.memory.MemoryBudget;
import io.helidon.webserver.http.ServerRequest;

/** A request's holding of the memory budget, which RequestFilter gives it and releases. */
final class RequestMemory {
  private RequestMemory() {}

  /**
   * The request's holding; a request that never went through RequestFilter (a unit test) draws on
   * no budget.
   */
  static MemoryBudget.Held of(ServerRequest req) {
    return req.context().get(MemoryBudget.Held.class).orElseGet(MemoryBudget::unbounded);
  }
}
