package dev.kubecoderun.api;

import java.io.IOException;
import java.io.InputStream;

/** Helpers for request bodies a handler refuses part-way. */
final class Bodies {
  /** How much of a refused body is read and dropped before answering. */
  static final long DRAIN_LIMIT = 16L * 1024 * 1024;

  private Bodies() {}

  /**
   * Reads and drops what is left of a refused body, up to a bound, so a client still sending it
   * reads the error answer instead of a reset connection. Past the bound the connection is closed.
   */
  static void drain(InputStream in) {
    try {
      byte[] buf = new byte[64 * 1024];
      long left = DRAIN_LIMIT;
      int n;
      while (left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) != -1) {
        left -= n;
      }
    } catch (IOException | RuntimeException e) {
      // the client went away: nothing to answer
    }
  }
}
