package dev.kubecoderun.it;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** For tests that speak HTTP/1.1 on a raw socket (to hold a body half sent). */
final class RawHttp {
  private static final Pattern LENGTH = Pattern.compile("(?im)^content-length: *(\\d+)");

  /** The header line of the test servers' API key. */
  static final String KEY_HEADER = "X-API-Key: " + TestServer.KEY + "\r\n";

  private RawHttp() {}

  /** A new connection to the server on {@code port}; its reads wait until the caller says. */
  static Socket connect(int port) throws IOException {
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
    return s;
  }

  /**
   * A POST as a client writes it: its request line and Host, {@code headers} (each line ending in
   * CRLF), the empty line, then {@code body}: all of it, or as much as the client sends at first.
   */
  static String post(String path, String headers, String body) {
    return "POST " + path + " HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n" + body;
  }

  /** Writes {@code text} (a request, or part of one) on {@code s}, one byte a character. */
  static void write(Socket s, String text) throws IOException {
    s.getOutputStream().write(text.getBytes(StandardCharsets.ISO_8859_1));
    s.getOutputStream().flush();
  }

  /** Status line, headers and the body (by Content-Length, or its first chunk) of one answer. */
  static String readReply(InputStream in) throws IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int c = in.read();
      if (c < 0) {
        return head.toString();
      }
      head.append((char) c);
    }
    Matcher length = LENGTH.matcher(head);
    int n;
    if (length.find()) {
      n = Integer.parseInt(length.group(1));
    } else {
      StringBuilder size = new StringBuilder();
      for (int c = in.read(); c != '\n' && c >= 0; c = in.read()) {
        size.append((char) c);
      }
      n = size.toString().isBlank() ? 0 : Integer.parseInt(size.toString().trim(), 16);
    }
    return head + new String(in.readNBytes(n), StandardCharsets.UTF_8);
  }

  /**
   * A connection to the test server on {@code port} that has sent the head of a POST to {@code
   * path}, with the test key, of a multipart body (its {@code boundary}) of {@code length} bytes,
   * and none of the body: the test sends it, as slowly as it needs, then reads the answer ({@link
   * #readReply}). Its reads time out after a minute.
   */
  static Socket startPost(int port, String path, String boundary, long length) throws IOException {
    Socket s = new Socket();
    try {
      s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
      s.setSoTimeout(60_000);
      s.getOutputStream()
          .write(
              ("POST "
                      + path
                      + " HTTP/1.1\r\nHost: localhost\r\nX-API-Key: "
                      + TestServer.KEY
                      + "\r\nContent-Type: multipart/form-data; boundary="
                      + boundary
                      + "\r\nContent-Length: "
                      + length
                      + "\r\nConnection: close\r\n\r\n")
                  .getBytes(StandardCharsets.US_ASCII));
      return s;
    } catch (IOException | RuntimeException e) {
      s.close();
      throw e;
    }
  }
}
