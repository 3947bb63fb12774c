package dev.kubecoderun.metrics;

/** The request id of the request this (virtual) thread serves, for log lines. */
public final class LogContext {
  private static final ThreadLocal<String> REQUEST_ID = new ThreadLocal<>();

  private LogContext() {}

  public static void set(String id) {
    REQUEST_ID.set(id);
  }

  public static void clear() {
    REQUEST_ID.remove();
  }

  public static String requestId() {
    return REQUEST_ID.get();
  }
}
