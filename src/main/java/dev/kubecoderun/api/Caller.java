package dev.kubecoderun.api;

/**
 * Who made the request, as authentication found it (in the request's context): {@code keyHash} is
 * the SHA-256 of the API key. Absent when authentication is off.
 */
record Caller(String keyHash) {
  /** The id usage is counted under: the first 16 hex digits (the Python version's short hash). */
  String usageId() {
    return keyHash.substring(0, 16);
  }
}
