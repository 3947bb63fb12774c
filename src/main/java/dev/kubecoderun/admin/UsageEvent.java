package dev.kubecoderun.admin;

import java.time.Instant;

/**
 * One /exec as usage counts it. {@code subject}: who asked (the first 16 hex digits of the API
 * key's SHA-256, as the Python version's usage keys; {@code anonymous} without authentication).
 * {@code outcome}: ok, error (the code failed), timeout, or failed (no result: the request was
 * answered with an error status, {@code status}). {@code message} is a short description for the
 * failures list, never the code's output.
 */
public record UsageEvent(
    Instant at,
    String subject,
    String language,
    String outcome,
    long durationMs,
    int status,
    String message,
    String requestId) {

  public static final String ANONYMOUS = "anonymous";

  public boolean isFailure() {
    return !outcome.equals("ok");
  }
}
