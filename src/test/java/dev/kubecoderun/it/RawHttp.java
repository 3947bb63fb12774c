package dev.kubecoderun.it;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** For tests that speak HTTP/1.1 on a raw socket (to hold a body half sent). */
final class RawHttp {
  private static final Pattern LENGTH = Pattern.compile("(?im)^content-length: *(\\d+)");

  private RawHttp() {}

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
}
