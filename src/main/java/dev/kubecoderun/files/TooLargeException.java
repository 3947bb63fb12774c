package dev.kubecoderun.files;

import java.io.IOException;

/** A stream went past its size limit while it was being stored. */
public final class TooLargeException extends IOException {
  private final long limit;

  public TooLargeException(long limit) {
    super("larger than " + limit + " bytes");
    this.limit = limit;
  }

  public long limit() {
    return limit;
  }
}
