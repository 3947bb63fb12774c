package dev.kubecoderun.api;

import dev.kubecoderun.execution.ConflictingInputsException;
import dev.kubecoderun.execution.ExecutionUnavailableException;
import dev.kubecoderun.execution.InputsTooLargeException;
import dev.kubecoderun.execution.TooManyRunsException;
import dev.kubecoderun.files.LocalDisk;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import dev.kubecoderun.session.SessionBusyException;
import dev.kubecoderun.session.SessionNotFoundException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.logging.Logger;

/**
 * The HTTP answer to each failure the domain raises: the domain says what went wrong, this says
 * which status, message and Retry-After the client sees.
 */
final class DomainErrors {
  private static final Logger LOG = Logger.getLogger(DomainErrors.class.getName());

  private DomainErrors() {}

  static ApiError of(ExecutionUnavailableException e) {
    return switch (e.reason()) {
      case SLOTS_BUSY, STOPPING -> ApiError.unavailable(e.getMessage(), 2);
      case NO_SANDBOX -> ApiError.unavailable("No sandbox available: " + e.getMessage(), 5);
      case SANDBOX_FAILED -> ApiError.unavailable("Sandbox failure: " + e.getMessage(), 2);
    };
  }

  /** Two input files of which one would be a folder of the other: the request's fault. */
  static ApiError of(ConflictingInputsException e) {
    return ApiError.badRequest(e.getMessage(), "files", "conflicting_file_names");
  }

  /** Input files that together cannot fit on the sandbox's disk: the request's fault. */
  static ApiError of(InputsTooLargeException e) {
    return ApiError.badRequest(e.getMessage(), "files", "inputs_too_large");
  }

  /** What requests and runs buffer took the whole memory budget for the whole wait. */
  static ApiError of(MemoryBudgetExhaustedException e) {
    return ApiError.unavailable(e.getMessage(), 1);
  }

  /** A run of the session is still going after the whole wait: it may take a while more. */
  static ApiError of(SessionBusyException e) {
    return new ApiError(409, e.getMessage()).header("Retry-After", "5");
  }

  /**
   * A principal (a LibreChat user; a managed key, when capped) with as many runs in progress as it
   * may have: a rate limit's answer (what LibreChat reads to tell the model when to retry).
   */
  static ApiError of(TooManyRunsException e) {
    return new ApiError(
            429,
            "rate_limited",
            "rate_limited",
            List.of(new ApiError.Detail(null, e.getMessage(), "too_many_concurrent_executions")))
        .extra("retry_after_seconds", 2)
        .header("Retry-After", "2");
  }

  /** Another principal's session: told apart from a missing one by nothing. */
  static ApiError of(SessionNotFoundException e) {
    return ApiError.notFound("Session not found");
  }

  /** The answer the client gets for {@code e} (500 for what the domain does not name). */
  static ApiError shown(RuntimeException e) {
    return switch (e) {
      case ApiError a -> a;
      case ExecutionUnavailableException u -> of(u);
      case ConflictingInputsException c -> of(c);
      case InputsTooLargeException t -> of(t);
      case SessionBusyException b -> of(b);
      case TooManyRunsException t -> of(t);
      case MemoryBudgetExhaustedException m -> of(m);
      case SessionNotFoundException n -> of(n);
      case UncheckedIOException io -> of(io);
      default -> new ApiError(500, "An unexpected error occurred");
    };
  }

  /**
   * A store (Redis, S3, the local disk) that failed or cannot be reached. What failed (a host and
   * port, an object key, a path) is the operator's, in the log under the request's id, not the
   * client's.
   */
  static ApiError of(UncheckedIOException e) {
    LOG.warning("storage failure: " + e.getMessage());
    if (LocalDisk.isFull(e)) {
      // Room comes back only when files expire or the operator makes it: not within seconds.
      return new ApiError(
              503,
              "service_unavailable",
              "Storage full: the service has no room left to store this; retry later",
              List.of(
                  new ApiError.Detail(
                      null, "no space left in the service's storage", "storage_full")))
          .header("Retry-After", Integer.toString(STORAGE_FULL_RETRY_SECONDS));
    }
    return ApiError.unavailable(
        "Storage failure: a store the service uses failed; retry shortly", 2);
  }

  /** Retry-After of a storage-full 503. */
  static final int STORAGE_FULL_RETRY_SECONDS = 30;
}
