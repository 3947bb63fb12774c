package dev.kubecoderun.api;

import dev.kubecoderun.common.Texts;

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
    return Texts.cut(value, MAX_CHARS, "…");
  }
}
