package dev.kubecoderun.api;

import dev.kubecoderun.admin.Usage;
import dev.kubecoderun.admin.UsageEvent;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.execution.ProgrammaticService;
import dev.kubecoderun.metrics.Metrics;
import io.helidon.webserver.http.ServerRequest;
import java.util.function.UnaryOperator;

/**
 * An execution's outcome and time, in the execution metrics and in usage: the one record of an
 * /exec and of a programmatic run (one execution, however many requests it takes).
 */
final class ExecutionRecorder {
  private final Metrics metrics;
  private final Usage usage;

  ExecutionRecorder(Metrics metrics, Usage usage) {
    this.metrics = metrics;
    this.usage = usage;
  }

  /** A run that ended: {@code outcome} is the code's, ok, error or timeout. */
  void ended(ServerRequest req, String lang, String outcome, long nanos) {
    record(usageSubject(Principals.of(req)), RequestId.of(req).value(), lang, outcome, nanos, null);
  }

  /**
   * A run that could not start or end ({@code e} on its way to the error handler): busy when the
   * client is told 409 or 429, else failed, with the status and message the client is shown.
   */
  void failed(ServerRequest req, String lang, long nanos, RuntimeException e) {
    failed(usageSubject(Principals.of(req)), RequestId.of(req).value(), lang, nanos, e);
  }

  /**
   * The recorder of a programmatic run that {@code req} starts: its principal and request id are
   * taken now, for an end that may come after the request (and with no request at all); {@code
   * shown} maps a failure to what its client is shown.
   */
  ProgrammaticService.Recorder forRun(ServerRequest req, UnaryOperator<RuntimeException> shown) {
    String subject = usageSubject(Principals.of(req));
    String requestId = RequestId.of(req).value();
    return new ProgrammaticService.Recorder() {
      @Override
      public void ended(String language, String outcome, long nanos) {
        record(subject, requestId, language, outcome, nanos, null);
      }

      @Override
      public void failed(String language, long nanos, RuntimeException e) {
        ExecutionRecorder.this.failed(subject, requestId, language, nanos, shown.apply(e));
      }
    };
  }

  private void failed(
      String subject, String requestId, String lang, long nanos, RuntimeException e) {
    ApiError shown = DomainErrors.shown(e);
    // Refused before it ran: its session busy (409), or its principal's runs at their cap (429).
    boolean refused = shown.status() == 409 || shown.status() == 429;
    record(subject, requestId, lang, refused ? "busy" : "failed", nanos, shown);
  }

  private void record(
      String subject, String requestId, String lang, String outcome, long nanos, ApiError error) {
    metrics.execution(lang, outcome, nanos);
    String message =
        switch (outcome) {
          case "ok", "error" -> null;
          case "timeout" -> "timed out";
          default -> error.getMessage();
        };
    usage.record(
        new UsageEvent(
            usage.now(),
            subject,
            lang,
            outcome.equals("busy") ? "failed" : outcome,
            nanos / 1_000_000,
            error == null ? 200 : error.status(),
            message == null ? null : message.substring(0, Math.min(300, message.length())),
            requestId));
  }

  /**
   * Who usage counts the run under: an API key's id (the first 16 hex digits of its SHA-256, as the
   * admin API's per-key usage), a LibreChat user's {@link Principal#shortId}, or {@code anonymous}.
   */
  static String usageSubject(Principal principal) {
    return principal.source() == Principal.Source.ANONYMOUS
        ? UsageEvent.ANONYMOUS
        : principal.shortId();
  }
}
