package dev.kubecoderun.execution;

import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/** {@link ProgrammaticStore} in this process's memory (one replica: the embedded set-up). */
public final class LocalProgrammaticStore implements ProgrammaticStore {
  private record Entry(Object value, long expiresAt) {}

  private static final String WAITING = "waiting";
  private static final String CANCELLED = "cancelled";

  private final Map<String, Entry> entries = new ConcurrentHashMap<>();
  private volatile long nextSweep;

  private void put(String key, Object value, Duration ttl) {
    long now = System.nanoTime();
    if (now - nextSweep > 0) {
      nextSweep = now + Duration.ofSeconds(30).toNanos();
      entries.values().removeIf(e -> now - e.expiresAt() > 0);
    }
    entries.put(key, new Entry(value, now + ttl.toNanos()));
  }

  private <T> Optional<T> get(String key, Class<T> type) {
    Entry e = entries.get(key);
    if (e == null || System.nanoTime() - e.expiresAt() > 0) {
      return Optional.empty();
    }
    return Optional.of(type.cast(e.value()));
  }

  @Override
  public void putExecution(String id, Execution execution, Duration ttl) {
    put("exec:" + id, execution, ttl);
  }

  @Override
  public Optional<Execution> execution(String id) {
    return get("exec:" + id, Execution.class);
  }

  @Override
  public void deleteExecution(String id) {
    entries.remove("exec:" + id);
  }

  @Override
  public void putToken(String token, Token record, Duration ttl) {
    put("token:" + token, record, ttl);
  }

  @Override
  public Optional<Token> token(String token) {
    return get("token:" + token, Token.class);
  }

  @Override
  public boolean used(String token) {
    return get("used:" + token, Boolean.class).isPresent();
  }

  @Override
  public boolean consume(String token, Duration ttl) {
    long now = System.nanoTime();
    Entry fresh = new Entry(Boolean.TRUE, now + ttl.toNanos());
    Entry prev =
        entries.compute(
            "used:" + token, (k, e) -> e == null || now - e.expiresAt() > 0 ? fresh : e);
    return prev == fresh;
  }

  @Override
  public void putFinal(String executionId, String json, Duration ttl) {
    put("final:" + executionId, json, ttl);
    synchronized (this) {
      notifyAll();
    }
  }

  @Override
  public Optional<String> awaitFinal(String executionId, Duration wait)
      throws InterruptedException {
    long end = System.nanoTime() + wait.toNanos();
    synchronized (this) {
      while (true) {
        Optional<String> f = get("final:" + executionId, String.class);
        long left = end - System.nanoTime();
        if (f.isPresent() || left <= 0) {
          return f;
        }
        wait(Math.max(1, Math.min(left / 1_000_000, 200)));
      }
    }
  }

  @Override
  public void putWaiting(String executionId, Duration ttl) {
    put("wait:" + executionId, WAITING, ttl);
  }

  @Override
  public boolean cancelWaiting(String executionId) {
    long now = System.nanoTime();
    Entry cancelled =
        entries.computeIfPresent(
            "wait:" + executionId,
            (k, e) -> now - e.expiresAt() > 0 ? null : new Entry(CANCELLED, e.expiresAt()));
    return cancelled != null;
  }

  @Override
  public boolean endWaiting(String executionId) {
    Entry e = entries.remove("wait:" + executionId);
    return e != null && System.nanoTime() - e.expiresAt() <= 0 && CANCELLED.equals(e.value());
  }

  @Override
  public void putRequest(String principal, String requestId, String executionId, Duration ttl) {
    put("req:" + principal + ":" + requestId, executionId, ttl);
  }

  @Override
  public Optional<String> request(String principal, String requestId) {
    return get("req:" + principal + ":" + requestId, String.class);
  }

  @Override
  public void deleteRequest(String principal, String requestId, String executionId) {
    entries.computeIfPresent(
        "req:" + principal + ":" + requestId, (k, e) -> executionId.equals(e.value()) ? null : e);
  }

  /** How many records the store holds, expired ones not yet swept included (tests). */
  int size() {
    return entries.size();
  }
}
