package dev.kubecoderun.api;

import io.helidon.webserver.http.ServerRequest;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;

/** Reading request bodies, and dropping what is left of one a handler refuses part-way. */
final class Bodies {
  /** How much of a refused body is read and dropped before answering. */
  static final long DRAIN_LIMIT = 16L * 1024 * 1024;

  private Bodies() {}

  /**
   * The request's body. A chunked body whose chunk size is not a hexadecimal number is the client's
   * {@code 400} ({@code invalid_chunked_body}), answered with {@code Connection: close}: Helidon
   * reports it as a NumberFormatException, which would be a 500 with a stack trace in the log for
   * any client to cause at will. The body is then read no further, not even by its close: past a
   * broken chunk its framing is lost, and draining it would wait for bytes that never come.
   */
  static InputStream open(ServerRequest req) {
    return new Framed(req.content().inputStream());
  }

  private static final class Framed extends FilterInputStream {
    private boolean broken;

    Framed(InputStream in) {
      super(in);
    }

    @Override
    public int read() throws IOException {
      try {
        return super.read();
      } catch (NumberFormatException e) {
        throw broken();
      }
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      try {
        return super.read(b, off, len);
      } catch (NumberFormatException e) {
        throw broken();
      }
    }

    @Override
    public long skip(long n) throws IOException {
      try {
        return super.skip(n);
      } catch (NumberFormatException e) {
        throw broken();
      }
    }

    @Override
    public void close() throws IOException {
      if (!broken) {
        super.close();
      }
    }

    private ApiError broken() {
      broken = true;
      return ApiError.badRequest(
              "Malformed chunked request body: a chunk size is not a hexadecimal number",
              "body",
              "invalid_chunked_body")
          .header("Connection", "close");
    }
  }

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
