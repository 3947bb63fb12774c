package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kubecoderun.execution.ConflictingInputsException;
import dev.kubecoderun.execution.ExecutionUnavailableException;
import dev.kubecoderun.execution.ExecutionUnavailableException.Reason;
import dev.kubecoderun.memory.MemoryBudgetExhaustedException;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.junit.jupiter.api.Test;

class DomainErrorsTest {
  private static ApiError of(Reason reason, String message) {
    return DomainErrors.of(new ExecutionUnavailableException(reason, message, null));
  }

  @Test
  void everyUnavailableExecutionIsA503WithRetryAfter() {
    ApiError busy = of(Reason.SLOTS_BUSY, "All execution slots are busy; retry shortly");
    assertEquals(503, busy.status());
    assertEquals("service_unavailable", busy.errorType());
    assertEquals("All execution slots are busy; retry shortly", busy.getMessage());
    assertEquals("2", busy.headers().get("Retry-After"));

    ApiError stopping = of(Reason.STOPPING, "The service is shutting down; retry");
    assertEquals(503, stopping.status());
    assertEquals("service_unavailable", stopping.errorType());
    assertEquals("The service is shutting down; retry", stopping.getMessage());
    assertEquals("2", stopping.headers().get("Retry-After"));

    ApiError none = of(Reason.NO_SANDBOX, "runner not ready within 30 s");
    assertEquals(503, none.status());
    assertEquals("No sandbox available: runner not ready within 30 s", none.getMessage());
    assertEquals("5", none.headers().get("Retry-After"));

    ApiError failed = of(Reason.SANDBOX_FAILED, "runner execute failed: reset");
    assertEquals(503, failed.status());
    assertEquals("Sandbox failure: runner execute failed: reset", failed.getMessage());
    assertEquals("2", failed.headers().get("Retry-After"));
  }

  @Test
  void aStoreThatFailsIsAStorageFailureNotASandboxFailureAndNamesNoneOfItsInsides() {
    ApiError e =
        DomainErrors.of(
            new UncheckedIOException(
                "Redis unavailable: redis.internal:6379", new IOException("refused")));
    assertEquals(503, e.status());
    assertEquals("Storage failure: a store the service uses failed; retry shortly", e.getMessage());
    assertEquals("2", e.headers().get("Retry-After"));
  }

  /** No room on the disk (a write, a file created, a quota) says so: a 503 for later, no path. */
  @Test
  void aDiskWithNoRoomIsAStorageFull503() {
    for (IOException cause :
        new IOException[] {
          new IOException("No space left on device"),
          new java.nio.file.FileSystemException(
              "/srv/data/meta/sessions/.x.json.1.tmp", null, "No space left on device"),
          new IOException("Disk quota exceeded")
        }) {
      ApiError e = DomainErrors.of(new UncheckedIOException(cause.toString(), cause));
      assertEquals(503, e.status());
      assertEquals("service_unavailable", e.errorType());
      assertEquals(
          "Storage full: the service has no room left to store this; retry later", e.getMessage());
      assertEquals("storage_full", e.details().get(0).code());
      assertEquals("30", e.headers().get("Retry-After"));
    }
  }

  @Test
  void inputsOfWhichOneIsAFolderOfAnotherAreTheRequestsFault() {
    ApiError e = DomainErrors.shown(new ConflictingInputsException("a", "a/b"));
    assertEquals(400, e.status());
    assertEquals("validation", e.errorType());
    assertEquals(null, e.headers().get("Retry-After"));
    assertEquals("files", e.details().get(0).field());
    assertEquals("conflicting_file_names", e.details().get(0).code());
    assertEquals(
        "Input files 'a' and 'a/b' conflict: 'a' cannot be both a file and the folder holding 'a/b'",
        e.getMessage());
  }

  @Test
  void aMemoryBudgetTakenForTheWholeWaitIsA503WithRetryAfter() {
    ApiError e = DomainErrors.shown(new MemoryBudgetExhaustedException());
    assertEquals(503, e.status());
    assertEquals("service_unavailable", e.errorType());
    assertEquals("1", e.headers().get("Retry-After"));
  }
}
