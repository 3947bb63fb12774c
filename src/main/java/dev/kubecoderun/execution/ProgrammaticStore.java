package dev.kubecoderun.execution;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Where programmatic executions and their continuation tokens live between requests: in memory for
 * the embedded set-up, in Redis when it is configured, so that any replica can continue a run whose
 * sandbox it can reach (on Kubernetes every replica reaches every pod).
 */
public interface ProgrammaticStore {
  /**
   * A programmatic run in progress: whose it is and how to reach its runner (the runner's URL and
   * bearer token: the store is trusted like the other stores, which hold session data), and {@code
   * tools}, the names the run registered, the only ones its runner's batches may name (null in a
   * record an earlier version wrote: then not checked).
   */
  record Execution(
      String principal,
      String runnerUrl,
      String runnerToken,
      String sessionId,
      List<String> tools) {}

  /** A continuation token: the run it continues, and who may use it. */
  record Token(String executionId, String principal) {}

  void putExecution(String id, Execution execution, Duration ttl);

  Optional<Execution> execution(String id);

  /** Ends the run's record: its tokens then answer 404. */
  void deleteExecution(String id);

  void putToken(String token, Token record, Duration ttl);

  Optional<Token> token(String token);

  /** Whether a token was used already. */
  boolean used(String token);

  /** Marks a token used, once: false when it already was (a replay). */
  boolean consume(String token, Duration ttl);

  /** The run's final answer (JSON), for whichever replica answers the last continuation. */
  void putFinal(String executionId, String json, Duration ttl);

  /** Waits up to {@code wait} for the run's final answer. */
  Optional<String> awaitFinal(String executionId, Duration wait) throws InterruptedException;

  /**
   * A run accepted but not yet handed its sandbox (waiting for the session, a slot, a sandbox):
   * {@link #cancelWaiting} marks it cancelled, {@link #endWaiting} ends the wait.
   */
  void putWaiting(String executionId, Duration ttl);

  /** Marks a waiting run cancelled: false when it is not waiting (handed over, ended, unknown). */
  boolean cancelWaiting(String executionId);

  /**
   * Ends a run's wait, at once (a cancel after it finds the run's sandbox in {@link #execution}, or
   * nothing): true when the run was cancelled while it waited.
   */
  boolean endWaiting(String executionId);

  /** Remembers which run a request (X-LibreChat-Code-Request-ID) of a principal belongs to. */
  void putRequest(String principal, String requestId, String executionId, Duration ttl);

  Optional<String> request(String principal, String requestId);

  /**
   * Forgets a request of the principal that was refused, while it still names {@code executionId}
   * (a request id sent again for another run keeps that run's record).
   */
  void deleteRequest(String principal, String requestId, String executionId);
}
