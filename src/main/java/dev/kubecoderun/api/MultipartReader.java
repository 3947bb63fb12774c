package dev.kubecoderun.api;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A streaming multipart/form-data reader: each part's body is read straight from the request, so a
 * 200 MiB upload never sits in the heap. Read (or skip) a part before asking for the next.
 *
 * <p>Why not Helidon's streaming multipart (helidon-http-media-multipart), tried in 2026-11: the
 * registry our builds reach had it only at 4.1.x, not at the BOM's 4.4.x; and with 4.1.3 on a 4.4.0
 * server it fails our uploads. A part's file name (io.helidon.http.ContentDisposition 4.4.0)
 * ignores {@code filename*} (RFC 5987), URL-decodes the plain {@code filename} ("a+b.csv" comes out
 * "a b.csv", "100%.txt" throws) and stops at a quoted ';'. A body with a preamble (RFC 2046 allows
 * one) yields no part at all. A part's stream returns 0 from {@code read(byte[])} at each empty
 * line, so a caller looping while {@code read > 0} stops early (13 MB of a 100 MB upload in the
 * trial). This reader has none of these, and keeps the limits UploadEndpoint needs: part headers
 * bounded (32 lines of 8 KiB), a field's value bounded, the rest of a refused body drained.
 */
final class MultipartReader {
  /** One part. {@code filename} is null for plain form fields. */
  static final class Part {
    private final String name;
    private final String filename;
    private final String contentType;
    private final InputStream body;

    Part(String name, String filename, String contentType, InputStream body) {
      this.name = name;
      this.filename = filename;
      this.contentType = contentType;
      this.body = body;
    }

    String name() {
      return name;
    }

    String filename() {
      return filename;
    }

    String contentType() {
      return contentType;
    }

    InputStream body() {
      return body;
    }

    /** A form field's value, refusing more than {@code max} bytes. */
    String text(int max) throws IOException {
      byte[] bytes = body.readNBytes(max + 1);
      if (bytes.length > max) {
        throw new ApiError(413, "Form field '" + name + "' is too large");
      }
      return new String(bytes, StandardCharsets.UTF_8);
    }
  }

  private static final int MAX_HEADER_LINE = 8192;
  private static final int MAX_HEADERS = 32;

  private final InputStream in;
  private final byte[] delimiter;
  private final byte[] buf;
  private int pos;
  private int lim;
  private boolean eof;
  private boolean done;
  private BodyStream current;

  MultipartReader(InputStream in, String boundary) {
    this.in = in;
    this.delimiter = ("\r\n--" + boundary).getBytes(StandardCharsets.ISO_8859_1);
    this.buf = new byte[64 * 1024 + delimiter.length];
    // The first boundary has no CRLF before it: pretend it has, so one delimiter rule fits all.
    buf[0] = '\r';
    buf[1] = '\n';
    lim = 2;
  }

  /** The boundary parameter of a multipart/form-data Content-Type, or null. */
  static String boundaryOf(String contentType) {
    if (contentType == null
        || !contentType.toLowerCase(Locale.ROOT).startsWith("multipart/form-data")) {
      return null;
    }
    String b = params(contentType).get("boundary");
    return b == null || b.isEmpty() || b.length() > 200 ? null : b;
  }

  /** The next part, or null after the last one. */
  Part next() throws IOException {
    if (done) {
      return null;
    }
    // Skip the rest of the previous part (or the preamble before the first one).
    BodyStream skip = current != null ? current : new BodyStream();
    skip.transferTo(OutputStreamSink.INSTANCE);
    ensure(2);
    if (lim - pos < 2) {
      throw malformed("unexpected end of multipart body");
    }
    if (buf[pos] == '-' && buf[pos + 1] == '-') {
      done = true;
      return null;
    }
    Map<String, String> headers = readHeaders();
    String disposition = headers.getOrDefault("content-disposition", "");
    Map<String, String> dp = params(disposition);
    current = new BodyStream();
    return new Part(
        dp.getOrDefault("name", ""),
        dp.containsKey("filename*") ? decodeExtended(dp.get("filename*")) : dp.get("filename"),
        headers.get("content-type"),
        current);
  }

  private Map<String, String> readHeaders() throws IOException {
    // After the delimiter: optional transport padding, then CRLF.
    String first = readLine();
    if (!first.isBlank()) {
      throw malformed("bad boundary line");
    }
    Map<String, String> headers = new LinkedHashMap<>();
    for (int i = 0; i <= MAX_HEADERS; i++) {
      String line = readLine();
      if (line.isEmpty()) {
        return headers;
      }
      int colon = line.indexOf(':');
      if (colon > 0) {
        headers.put(
            line.substring(0, colon).trim().toLowerCase(Locale.ROOT),
            line.substring(colon + 1).trim());
      }
    }
    throw malformed("too many part headers");
  }

  private String readLine() throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    while (true) {
      ensure(1);
      if (pos >= lim) {
        throw malformed("unexpected end of part headers");
      }
      byte b = buf[pos++];
      if (b == '\n') {
        byte[] bytes = line.toByteArray();
        int n =
            bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
        return new String(bytes, 0, n, StandardCharsets.UTF_8);
      }
      line.write(b);
      if (line.size() > MAX_HEADER_LINE) {
        throw malformed("part header line too long");
      }
    }
  }

  /** Makes at least {@code n} bytes available unless the stream ends first. */
  private void ensure(int n) throws IOException {
    if (lim - pos >= n || eof) {
      return;
    }
    System.arraycopy(buf, pos, buf, 0, lim - pos);
    lim -= pos;
    pos = 0;
    while (lim < n && !eof) {
      int r = in.read(buf, lim, buf.length - lim);
      if (r == -1) {
        eof = true;
      } else {
        lim += r;
      }
    }
  }

  private int indexOfDelimiter() {
    outer:
    for (int i = pos; i <= lim - delimiter.length; i++) {
      for (int j = 0; j < delimiter.length; j++) {
        if (buf[i + j] != delimiter[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  /** One part's bytes, up to (not including) the next delimiter. */
  private final class BodyStream extends InputStream {
    private boolean finished;

    @Override
    public int read() throws IOException {
      byte[] one = new byte[1];
      return read(one, 0, 1) == -1 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
      if (finished) {
        return -1;
      }
      if (len == 0) {
        return 0;
      }
      ensure(delimiter.length);
      int idx = indexOfDelimiter();
      if (idx == pos) {
        pos += delimiter.length;
        finished = true;
        return -1;
      }
      int avail = idx > 0 ? idx - pos : lim - pos - (delimiter.length - 1);
      if (avail <= 0) {
        throw malformed("unexpected end of multipart body");
      }
      int n = Math.min(len, avail);
      System.arraycopy(buf, pos, b, off, n);
      pos += n;
      return n;
    }
  }

  /** Discards what a skipped part still holds. */
  private static final class OutputStreamSink extends java.io.OutputStream {
    static final OutputStreamSink INSTANCE = new OutputStreamSink();

    @Override
    public void write(int b) {}

    @Override
    public void write(byte[] b, int off, int len) {}
  }

  private static ApiError malformed(String why) {
    return ApiError.badRequest("Malformed multipart body: " + why, "body", "invalid_multipart");
  }

  /** Parameters of a header value like {@code form-data; name="file"; filename="a b.csv"}. */
  static Map<String, String> params(String header) {
    Map<String, String> out = new LinkedHashMap<>();
    int i = header.indexOf(';');
    while (i >= 0 && i < header.length()) {
      i++;
      while (i < header.length() && header.charAt(i) == ' ') {
        i++;
      }
      int eq = header.indexOf('=', i);
      if (eq < 0) {
        break;
      }
      String key = header.substring(i, eq).trim().toLowerCase(Locale.ROOT);
      int j = eq + 1;
      String value;
      if (j < header.length() && header.charAt(j) == '"') {
        StringBuilder sb = new StringBuilder();
        j++;
        while (j < header.length() && header.charAt(j) != '"') {
          char c = header.charAt(j);
          if (c == '\\' && j + 1 < header.length()) {
            c = header.charAt(++j);
          }
          sb.append(c);
          j++;
        }
        value = sb.toString();
        i = header.indexOf(';', j);
      } else {
        int semi = header.indexOf(';', j);
        value = (semi < 0 ? header.substring(j) : header.substring(j, semi)).trim();
        i = semi;
      }
      out.putIfAbsent(key, value);
    }
    return out;
  }

  /**
   * RFC 5987 {@code UTF-8''percent-encoded}: a bad escape, or a character that is not printable
   * ASCII, makes the part malformed.
   */
  private static String decodeExtended(String v) {
    int q = v.indexOf("''");
    String enc = q >= 0 ? v.substring(q + 2) : v;
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (int i = 0; i < enc.length(); i++) {
      char c = enc.charAt(i);
      if (c == '%') {
        if (i + 2 >= enc.length()
            || !HexFormat.isHexDigit(enc.charAt(i + 1))
            || !HexFormat.isHexDigit(enc.charAt(i + 2))) {
          throw malformed("bad percent-encoding in filename*");
        }
        out.write(HexFormat.fromHexDigits(enc, i + 1, i + 3));
        i += 2;
      } else if (c < 0x20 || c > 0x7e) {
        throw malformed("filename* must be percent-encoded ASCII");
      } else {
        out.write(c);
      }
    }
    return out.toString(StandardCharsets.UTF_8);
  }
}
