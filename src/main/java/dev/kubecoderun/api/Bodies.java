package dev.kubecoderun.api;

import io.helidon.common.buffers.DataReader;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.http.ServerRequest;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.time.Duration;
import java.util.List;

/** Reading request bodies, and dropping what is left of one a handler refuses part-way. */
final class Bodies {
  /** How much of a refused body is read and dropped before answering. */
  static final long DRAIN_LIMIT = 16L * 1024 * 1024;

  private Bodies() {}

  /**
   * How long a request body may take, registered on each request by {@link RequestFilter}. {@code
   * idle}: how long one read waits for the next bytes (IDLE_CONNECTION_TIMEOUT_SECONDS). Helidon's
   * idle timeout closes only connections between requests: one that sent its headers and then part
   * of a body (a key holder stalling uploads, each holding a request slot and what its body
   * reserved from the memory budget) would otherwise be kept for as long as the client keeps it.
   * {@code minRate} (REQUEST_BODY_MIN_KIB_PER_SECOND, in bytes a second): a byte sent just within
   * every idle timeout keeps each read short, so the reads of one body may wait, in all, {@code
   * idle} plus one second for every {@code minRate} bytes received. Only the time spent waiting for
   * the client counts, not the server's own work between reads (writing a file to S3).
   */
  record Limits(Duration idle, long minRate) {}

  /**
   * The request's body. A read that waits longer than the idle timeout of its {@link Limits} for
   * bytes ends the request: the connection is closed without an answer (logged as a {@code 408}). A
   * read that would begin after the body's reads have waited longer than its limits allow (the body
   * arrives slower than their minimum rate) is the client's {@code 408} ({@code body_too_slow}),
   * answered with {@code Connection: close}: what is left of the body is not read. A chunked body
   * whose chunk size is not a hexadecimal number, or one of whose lines does not end in CRLF, is
   * the client's {@code 400} ({@code invalid_chunked_body}), answered with {@code Connection:
   * close}: Helidon reports them as a NumberFormatException and an IncorrectNewLineException, which
   * would be a 500 with a stack trace in the log for any client to cause at will. The body is then
   * read no further, not even by its close: past a broken chunk its framing is lost, and draining
   * it would wait for bytes that never come. Close the stream when done (it stops the idle watch).
   */
  static InputStream open(ServerRequest req) {
    return open(req, req.context().get(Limits.class).orElse(null));
  }

  /**
   * {@link #open(ServerRequest)}; {@code limits} null: none (a read with a deadline of its own).
   */
  static InputStream open(ServerRequest req, Limits limits) {
    return new Framed(req.content().inputStream(), limits);
  }

  /**
   * Whether the request announced its body with "Expect: 100-continue" and the handler left it
   * unread: no 100 went out, Helidon does not discard such a body, and a client or proxy sending it
   * anyway would have it read as the next request. The connection ends after the answer ({@link
   * RequestFilter}), which says so ({@link ErrorResponses}).
   */
  static boolean expectedButUnread(ServerRequest req) {
    return req.headers().containsToken(HeaderValues.EXPECT_100) && !req.content().consumed();
  }

  /**
   * Whether the body comes in chunks. Helidon reads a whole chunk into memory before it gives any
   * of it (its size is the client's word, up to 2 GiB, bounded only by the largest body allowed):
   * such a body is read only for a client that has shown a credential, never on a path that needs
   * none (the key scan of a body, the drain of a body an answer left unread).
   */
  static boolean chunked(ServerRequest req) {
    return req.headers().contains(HeaderNames.TRANSFER_ENCODING);
  }

  /** One read of the body, which may block. */
  private interface Read<T> {
    T run() throws IOException;
  }

  private static final class Framed extends FilterInputStream {
    private final Limits limits; // null: none
    // Made at the first read by the thread that reads the body (the request's own), which it
    // interrupts when a read waits past the idle timeout; that closes the connection.
    private SendWatchdog watch;
    private boolean broken;
    private long received; // bytes of the body read so far
    private long waitedNanos; // time spent inside reads so far

    Framed(InputStream in, Limits limits) {
      super(in);
      this.limits = limits;
    }

    @Override
    public int read() throws IOException {
      int b = paced(super::read);
      received += b < 0 ? 0 : 1;
      return b;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      int n = paced(() -> super.read(b, off, len));
      received += Math.max(0, n);
      return n;
    }

    @Override
    public long skip(long n) throws IOException {
      long skipped = paced(() -> super.skip(n));
      received += Math.max(0, skipped);
      return skipped;
    }

    /** A read the body's minimum rate allows: what its reads have waited is within their due. */
    private <T> T paced(Read<T> read) throws IOException {
      if (limits != null && !broken) {
        double due = limits.idle().toNanos() + received * 1e9 / limits.minRate();
        if (waitedNanos > due) {
          broken = true; // the rest is not read, not even by close: the connection ends
          throw tooSlow();
        }
      }
      long start = System.nanoTime();
      try {
        return watched(read);
      } finally {
        waitedNanos += System.nanoTime() - start;
      }
    }

    private ApiError tooSlow() {
      String message =
          "The request body arrives too slowly: after the first "
              + limits.idle().toSeconds()
              + " s it must average at least "
              + limits.minRate() / 1024
              + " KiB/s (REQUEST_BODY_MIN_KIB_PER_SECOND)";
      return new ApiError(
              408,
              "timeout",
              message,
              List.of(new ApiError.Detail("body", message, "body_too_slow")))
          .header("Connection", "close");
    }

    private <T> T watched(Read<T> read) throws IOException {
      if (broken) {
        throw new IOException("the request body cannot be read further");
      }
      if (limits != null && watch == null) {
        watch = new SendWatchdog(limits.idle());
      }
      if (watch != null) {
        watch.writing(); // "blocked in I/O": the watchdog's name for it
      }
      try {
        return read.run();
      } catch (NumberFormatException | DataReader.IncorrectNewLineException e) {
        broken = true;
        throw ApiError.badRequest(
                e instanceof NumberFormatException
                    ? "Malformed chunked request body: a chunk size is not a hexadecimal number"
                    : "Malformed chunked request body: a line does not end in CRLF",
                "body",
                "invalid_chunked_body")
            .header("Connection", "close");
      } catch (IOException | RuntimeException e) {
        if (watch != null && watch.fired()) {
          // The socket is closed: no answer can go out, and an error answer tried would be
          // logged by Helidon with a stack trace for every such client. It closes this quietly.
          broken = true;
          throw new CloseConnectionException(
              "no bytes of the request body arrived for "
                  + limits.idle().toSeconds()
                  + " s (IDLE_CONNECTION_TIMEOUT_SECONDS)",
              e);
        }
        throw e;
      } finally {
        if (watch != null) {
          watch.written();
        }
      }
    }

    @Override
    public void close() throws IOException {
      try {
        if (!broken) {
          // Helidon's close reads what is left of the body: watched like any read, not paced (the
          // body may be whole, only its end unread; RequestFilter bounds what is left).
          watched(
              () -> {
                super.close();
                return null;
              });
        }
      } finally {
        if (watch != null) {
          watch.close(); // clears an interrupt it made
        }
      }
    }
  }

  /**
   * Reads and drops what is left of a refused body, up to a bound, so a client still sending it
   * reads the error answer instead of a reset connection. Past the bound the connection is closed.
   */
  static void drain(InputStream in) {
    drain(in, DRAIN_LIMIT);
  }

  /** {@link #drain(InputStream)} up to {@code limit} bytes. */
  static void drain(InputStream in, long limit) {
    try {
      byte[] buf = new byte[64 * 1024];
      long left = limit;
      int n;
      while (left > 0 && (n = in.read(buf, 0, (int) Math.min(buf.length, left))) != -1) {
        left -= n;
      }
    } catch (CloseConnectionException | ApiError e) {
      throw e; // the body stopped arriving, or its framing is lost: that is the answer now
    } catch (IOException | RuntimeException e) {
      // the client went away: nothing to answer
    }
  }
}
