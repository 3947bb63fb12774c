package dev.kubecoderun.sandbox;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/**
 * The body of a file read from the runner. A failure while reading it is marked {@link Broken}, so
 * the caller can tell it from a failure of where the bytes were going (the file store).
 */
final class RunnerStream extends FilterInputStream {
  /** Reading the runner's answer failed (the file changed under it, the connection broke). */
  static final class Broken extends IOException {
    Broken(Exception cause) {
      super(cause.getMessage(), cause);
    }
  }

  private final CallDeadline deadline;

  /** {@code deadline}: each read waits on the runner, within it. */
  RunnerStream(InputStream in, CallDeadline deadline) {
    super(in);
    this.deadline = deadline;
  }

  @Override
  public int read() throws IOException {
    try {
      deadline.onRunner(); // inside: a deadline passed meanwhile leaves no interrupt behind
      return super.read();
    } catch (IOException | RuntimeException e) {
      throw new Broken(e);
    } finally {
      deadline.offRunner();
    }
  }

  @Override
  public int read(byte[] b, int off, int len) throws IOException {
    try {
      deadline.onRunner(); // inside: a deadline passed meanwhile leaves no interrupt behind
      return super.read(b, off, len);
    } catch (IOException | RuntimeException e) {
      throw new Broken(e);
    } finally {
      deadline.offRunner();
    }
  }

  @Override
  public long skip(long n) throws IOException {
    try {
      deadline.onRunner(); // inside: a deadline passed meanwhile leaves no interrupt behind
      return super.skip(n);
    } catch (IOException | RuntimeException e) {
      throw new Broken(e);
    } finally {
      deadline.offRunner();
    }
  }
}
