package dev.kubecoderun.api;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A request that ends in a non-2xx answer. Rendered as the one error body: {@code {error,
 * error_type, details, request_id, timestamp}}.
 */
public final class ApiError extends RuntimeException {
  /** One entry of {@code details}. */
  public record Detail(String field, String message, String code) {}

  private final int status;
  private final String errorType;
  private final List<Detail> details;
  private final Map<String, String> headers = new LinkedHashMap<>();
  private final Map<String, Object> extra = new LinkedHashMap<>();

  public ApiError(int status, String errorType, String message, List<Detail> details) {
    super(message);
    this.status = status;
    this.errorType = errorType;
    this.details = details;
  }

  public ApiError(int status, String message) {
    this(status, typeFor(status), message, null);
  }

  public static ApiError badRequest(String message, String field, String code) {
    return new ApiError(400, "validation", message, List.of(new Detail(field, message, code)));
  }

  public static ApiError validation(String field, String message, String code) {
    return new ApiError(
        422, "validation", "Request validation failed", List.of(new Detail(field, message, code)));
  }

  public static ApiError invalidEntityId() {
    return validation(
        "entity_id", "entity_id must be 1-40 characters of [A-Za-z0-9_-]", "invalid_entity_id");
  }

  /** {@code field}: where the user id came from (the {@code user_id} field, a header). */
  public static ApiError invalidUserId(String field) {
    return validation(
        field,
        "a user id must be 1-"
            + dev.kubecoderun.session.Ids.MAX_USER_ID_CHARS
            + " characters, none a control character",
        "invalid_user_id");
  }

  public static ApiError notFound(String message) {
    return new ApiError(404, message);
  }

  public static ApiError unavailable(String message, int retryAfterSeconds) {
    return new ApiError(503, message).header("Retry-After", Integer.toString(retryAfterSeconds));
  }

  /**
   * 429 for a credential refused unchecked: its address failed too many checks within the window
   * ({@code wait} left of it). The shape of a rate limit's 429 ({@code error: "rate_limited"},
   * {@code retry_after_seconds}, Retry-After), which clients already wait on.
   */
  public static ApiError tooManyFailedCredentials(java.time.Duration wait) {
    long seconds = Math.max(1, (wait.toMillis() + 999) / 1000);
    String message = "Too many failed credentials from this address; retry in " + seconds + " s";
    return new ApiError(
            429,
            "rate_limited",
            "rate_limited",
            List.of(new Detail("credentials", message, "too_many_failed_credentials")))
        .extra("retry_after_seconds", seconds)
        .header("Retry-After", Long.toString(seconds));
  }

  public ApiError header(String name, String value) {
    headers.put(name, value);
    return this;
  }

  /**
   * A field of the body beside the usual five, for what a client reads by name (LibreChat: {@code
   * retry_after_seconds} on 429, {@code code} on a profile mismatch).
   */
  public ApiError extra(String name, Object value) {
    extra.put(name, value);
    return this;
  }

  public Map<String, Object> extra() {
    return extra;
  }

  public int status() {
    return status;
  }

  public String errorType() {
    return errorType;
  }

  public List<Detail> details() {
    return details;
  }

  public Map<String, String> headers() {
    return headers;
  }

  static String typeFor(int status) {
    return switch (status) {
      // 405: the path exists, the request's method is what is wrong (Allow names the right ones).
      // 505: the client's protocol (HTTP/1.0), not a failure of the server.
      case 400, 405, 414, 415, 422, 431, 505 -> "validation";
      case 401 -> "authentication";
      case 403 -> "authorization";
      case 404 -> "resource_not_found";
      case 409 -> "resource_conflict";
      case 413 -> "resource_exhausted";
      case 416 -> "validation";
      case 429 -> "rate_limited";
      case 502 -> "external_service";
      case 503 -> "service_unavailable";
      case 408, 504 -> "timeout";
      default -> "internal_server";
    };
  }
}
