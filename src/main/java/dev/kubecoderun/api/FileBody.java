package dev.kubecoderun.api;

import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Sends a stored file's bytes as a response body of known length (Content-Length). Until the first
 * byte is read from the store nothing is sent, so a store failure is still a clean 503. After it,
 * any failure (the store, the client, a client that stops reading) aborts the connection: the
 * client sees fewer bytes than Content-Length and an error, never a body that looks complete.
 */
final class FileBody {
  private static final Logger LOG = Logger.getLogger(FileBody.class.getName());
  private static final int BUFFER = 64 * 1024;

  private FileBody() {}

  /**
   * Copies exactly {@code length} bytes of {@code in} to the response; {@code headers} sets the
   * status and headers just before the first byte goes out. Does not close {@code in}.
   */
  static void send(
      ServerResponse res,
      InputStream in,
      long length,
      Duration sendTimeout,
      Runnable headers,
      String what) {
    if (length == 0) {
      headers.run();
      res.headers().contentLength(0);
      res.send();
      return;
    }
    byte[] buf = new byte[(int) Math.min(BUFFER, length)];
    long sent = 0;
    OutputStream out = null;
    try (SendWatchdog watchdog = new SendWatchdog(sendTimeout)) {
      while (sent < length) {
        int n;
        try {
          n = in.read(buf, 0, (int) Math.min(buf.length, length - sent));
          if (n < 0) {
            throw new IOException("the stored object ends after " + sent + " bytes");
          }
        } catch (IOException | UncheckedIOException e) {
          if (watchdog.fired()) {
            throw stalled(what, sent, length, e);
          }
          if (out == null) {
            throw new UncheckedIOException(
                "cannot read " + what, e instanceof IOException io ? io : unwrap(e));
          }
          LOG.log(
              Level.WARNING,
              "download of " + what + " aborted: the store failed after " + sent + " of " + length,
              e);
          throw new CloseConnectionException("store failed mid-download", e);
        }
        if (out == null) {
          headers.run();
          res.headers().contentLength(length);
          out = res.outputStream();
        }
        write(out, buf, n, watchdog, what, sent, length);
        sent += n;
      }
      write(out, null, 0, watchdog, what, sent, length);
    }
  }

  /** Writes {@code n} bytes of {@code buf}, or with {@code buf} null flushes and closes. */
  private static void write(
      OutputStream out,
      byte[] buf,
      int n,
      SendWatchdog watchdog,
      String what,
      long sent,
      long length) {
    watchdog.writing();
    try {
      if (buf == null) {
        out.close();
      } else {
        out.write(buf, 0, n);
      }
    } catch (IOException | UncheckedIOException | CloseConnectionException e) {
      // Helidon reports a failed socket write as either of the last two.
      if (watchdog.fired()) {
        throw stalled(what, sent, length, e);
      }
      LOG.info(
          "download of "
              + what
              + " stopped: the client went away after "
              + sent
              + " of "
              + length
              + " bytes");
      throw new CloseConnectionException("client went away mid-download", e);
    } finally {
      watchdog.written();
    }
  }

  private static IOException unwrap(Exception e) {
    return e.getCause() instanceof IOException io ? io : new IOException(e);
  }

  private static CloseConnectionException stalled(
      String what, long sent, long length, Exception e) {
    LOG.info(
        "download of "
            + what
            + " aborted: the client accepted nothing for the send timeout after "
            + sent
            + " of "
            + length
            + " bytes");
    return new CloseConnectionException("client stopped reading mid-download", e);
  }
}
