package dev.kubecoderun.api;

/**
 * A client's value as an error message repeats it: cut to {@link #MAX_CHARS} characters. A request
 * body may hold megabytes in one field, and an error that repeated it whole would answer a bad
 * request with as much again (twice, where the message and its detail both name it).
 */
final class Echo {
  /** The most characters of a client's value an error message repeats. */
  static final int MAX_CHARS = 100;

  private Echo() {}

  /** {@code value} itself when short; else its first {@link #MAX_CHARS} characters and "…". */
  static String cut(String value) {
    if (value == null || value.length() <= MAX_CHARS) {
      return value;
    }
    int end = MAX_CHARS;
    // Never half of a character outside the BMP: the JSON answer would hold a lone surrogate.
    if (Character.isHighSurrogate(value.charAt(end - 1))) {
      end--;
    }
    return value.substring(0, end) + "…";
  }
}
