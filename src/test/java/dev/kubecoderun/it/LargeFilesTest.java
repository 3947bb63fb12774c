package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.kubecoderun.Application;
import dev.kubecoderun.stores.RedisServer;
import dev.kubecoderun.stores.S3Server;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.SequenceInputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Large uploads and downloads on both stores (local disk; Redis + S3Proxy), through {@code /upload}
 * and through files a run writes to /mnt/data: whole files up to MAX_FILE_SIZE_MB (100 MiB here,
 * its default is 150: big enough that every buffer must stream, small enough for a 2-core machine),
 * concurrently, compared by SHA-256; Range and HEAD; a slow reader; clients that go away or stop
 * reading (the API must release the file or S3 stream); a store failing mid-download (the client
 * must see an error, never a body that looks whole). The data is generated while it is sent.
 */
@Tag("integration")
@Timeout(value = 3, unit = TimeUnit.MINUTES) // a body that stops short of Content-Length hangs
class LargeFilesTest {
  private static final long MIB = 1024 * 1024;
  private static final long MAX = 100 * MIB;
  private static final Duration SEND_TIMEOUT = Duration.ofSeconds(5);
  private static final ObjectMapper JSON = new ObjectMapper();

  enum Store {
    DISK,
    REDIS_S3
  }

  /** One API server per store, with its own data folder (Redis prefix, bucket). */
  record Server(Application app, URI base, Path dataDir, int s3Port) {}

  /** A file uploaded for these tests: its generator seed and size. */
  record Uploaded(String sid, String fid, long seed, long size) {
    String path() {
      return "/download/" + sid + "/" + fid;
    }
  }

  private static final Map<Store, Server> SERVERS = new EnumMap<>(Store.class);
  private static final Map<String, Uploaded> UPLOADS = new ConcurrentHashMap<>();
  private static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();

  static synchronized Server server(Store store) {
    return SERVERS.computeIfAbsent(
        store,
        s -> {
          try {
            Path data = Files.createTempDirectory("kcr-large-");
            Map<String, String> env = new HashMap<>();
            env.put("MAX_FILE_SIZE_MB", Long.toString(MAX / MIB));
            env.put("DOWNLOAD_SEND_TIMEOUT_SECONDS", Long.toString(SEND_TIMEOUT.toSeconds()));
            int s3Port = -1;
            if (s == Store.REDIS_S3) {
              S3Server s3 = S3Server.shared();
              env.put("REDIS_URL", RedisServer.shared().url());
              env.put("REDIS_KEY_PREFIX", "kcr-large-" + System.nanoTime() + ":");
              env.put("MINIO_ENDPOINT", s3.endpoint());
              env.put("MINIO_ACCESS_KEY", S3Server.ACCESS_KEY);
              env.put("MINIO_SECRET_KEY", S3Server.SECRET_KEY);
              env.put("MINIO_BUCKET", "kcr-large");
              s3Port = URI.create(s3.endpoint()).getPort();
            }
            Application app = StandaloneServer.start(data, env);
            return new Server(app, URI.create("http://127.0.0.1:" + app.port()), data, s3Port);
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        });
  }

  /** Stops the servers and deletes their data: a run leaves hundreds of MiB of test files. */
  @AfterAll
  static synchronized void stop() throws IOException {
    for (Server s : SERVERS.values()) {
      s.app().close();
      try (var paths = Files.walk(s.dataDir())) {
        for (Path p : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
          Files.deleteIfExists(p);
        }
      }
    }
    SERVERS.clear();
    UPLOADS.clear();
  }

  // ---- uploads and downloads

  @ParameterizedTest
  @EnumSource(Store.class)
  void uploadsUpToTheLargestAllowedAtOnceComeBackWholeDownloadedThreeTimesAtOnce(Store store)
      throws Exception {
    Server s = server(store);
    List<Long> sizes = List.of(MIB, 20 * MIB, MAX);
    List<Uploaded> files = new ArrayList<>();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<Uploaded>> ups = new ArrayList<>();
      // At once, the 20 MiB one chunked (no Content-Length), the others with a Content-Length.
      for (long size : sizes) {
        ups.add(pool.submit(() -> uploadNew(s, size + 7, size, size == 20 * MIB)));
      }
      for (Future<Uploaded> f : ups) {
        files.add(f.get());
      }
      List<Future<?>> downs = new ArrayList<>();
      for (Uploaded f : files) {
        String want = TestData.sha256(f.seed(), f.size());
        for (int i = 0; i < 3; i++) {
          downs.add(
              pool.submit(
                  () -> {
                    Got got = download(s, f.path(), Map.of());
                    assertEquals(200, got.status());
                    assertEquals(f.size(), got.contentLength(), "Content-Length");
                    assertEquals(f.size(), got.bytes(), "bytes received");
                    assertEquals(want, got.sha256(), "content of " + f.size() + " bytes");
                    return null;
                  }));
        }
      }
      for (Future<?> f : downs) {
        f.get();
      }
    }
  }

  @ParameterizedTest
  @EnumSource(Store.class)
  void anUploadOneByteOverTheLimitIsRefusedAndLeavesNothing(Store store) throws Exception {
    Server s = server(store);
    long objectsBefore = store == Store.DISK ? objectFiles(s) : 0;
    HttpResponse<String> r = upload(s, "too-big.bin", 7, MAX + 1, false);
    assertEquals(413, r.statusCode(), r.body());
    assertEquals("resource_exhausted", JSON.readTree(r.body()).path("error_type").asText());
    if (store == Store.DISK) {
      assertEquals(objectsBefore, objectFiles(s), "nothing stored, no temporary file left");
    }
  }

  private static long objectFiles(Server s) throws IOException {
    Path objects = s.dataDir().resolve("objects");
    if (!Files.isDirectory(objects)) {
      return 0;
    }
    try (var files = Files.walk(objects)) {
      return files.filter(Files::isRegularFile).count();
    }
  }

  @ParameterizedTest
  @EnumSource(Store.class)
  void filesWrittenByCodeUpToTheLargestAllowedDownloadWhole(Store store) throws Exception {
    Server s = server(store);
    List<Long> sizes = List.of(20 * MIB, MAX);
    String code =
        "import hashlib, os\n"
            + "for name, mib in (('twenty.bin', 20), ('max.bin', "
            + MAX / MIB
            + ")):\n"
            + "    h = hashlib.sha256()\n"
            + "    with open(name, 'wb') as f:\n"
            + "        for _ in range(mib):\n"
            + "            b = os.urandom(1 << 20)\n"
            + "            h.update(b)\n"
            + "            f.write(b)\n"
            + "    print(name, h.hexdigest())\n";
    HttpResponse<String> r =
        HTTP.send(
            request(s, "/exec")
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        JSON.writeValueAsString(Map.of("lang", "py", "code", code))))
                .timeout(Duration.ofMinutes(3))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
    JsonNode run = JSON.readTree(r.body());
    Map<String, String> digests = new HashMap<>();
    for (String line : run.path("stdout").asText().strip().split("\n")) {
      String[] kv = line.split(" ");
      digests.put(kv[0], kv[1]);
    }
    assertEquals(2, digests.size(), r.body());
    String sid = run.path("session_id").asText();
    try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
      List<Future<?>> downs = new ArrayList<>();
      for (JsonNode f : run.path("files")) {
        String name = f.path("name").asText();
        String want = digests.get(name);
        long size = name.equals("max.bin") ? sizes.get(1) : sizes.get(0);
        for (int i = 0; i < 2; i++) {
          downs.add(
              pool.submit(
                  () -> {
                    Got got =
                        download(s, "/download/" + sid + "/" + f.path("id").asText(), Map.of());
                    assertEquals(200, got.status());
                    assertEquals(size, got.contentLength(), name);
                    assertEquals(size, got.bytes(), name);
                    assertEquals(want, got.sha256(), name);
                    return null;
                  }));
        }
      }
      assertEquals(4, downs.size(), r.body());
      for (Future<?> f : downs) {
        f.get();
      }
    }
  }

  // ---- Range and HEAD

  @ParameterizedTest
  @EnumSource(Store.class)
  void rangesAndHeadFollowRfc9110(Store store) throws Exception {
    Server s = server(store);
    Uploaded f = uploaded(s, store, 20 * MIB);
    long size = f.size();

    HttpResponse<byte[]> head =
        HTTP.send(
            request(s, f.path()).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(200, head.statusCode());
    assertEquals(Long.toString(size), head.headers().firstValue("Content-Length").orElse(null));
    assertEquals("bytes", head.headers().firstValue("Accept-Ranges").orElse(null));
    assertEquals(0, head.body().length);
    String etag = head.headers().firstValue("ETag").orElseThrow();
    String lastModified = head.headers().firstValue("Last-Modified").orElseThrow();

    assertRange(s, f, "bytes=0-0", 0, 1);
    assertRange(s, f, "bytes=1000-1999", 1000, 1000);
    assertRange(s, f, "bytes=" + (size - 10) + "-" + (size + 100), size - 10, 10);
    assertRange(s, f, "bytes=-500", size - 500, 500);
    assertRange(s, f, "bytes=-" + (size * 2), 0, size);

    // Resuming: the second half after a first half gives the whole file.
    long half = size / 2;
    Got first = download(s, f.path(), Map.of("Range", "bytes=0-" + (half - 1)));
    Got rest = download(s, f.path(), Map.of("Range", "bytes=" + half + "-", "If-Range", etag));
    assertEquals(206, rest.status());
    assertEquals(TestData.sha256(f.seed(), half), first.sha256());
    assertEquals(TestData.sha256(skipped(f.seed(), size, half)), rest.sha256());
    assertEquals("bytes " + half + "-" + (size - 1) + "/" + size, rest.header("Content-Range"));
    assertEquals(
        206, download(s, f.path(), Map.of("Range", "bytes=5-", "If-Range", lastModified)).status());

    // A stale If-Range, several ranges, another unit, nonsense: the whole file.
    for (Map<String, String> h :
        List.of(
            Map.of("Range", "bytes=5-", "If-Range", "\"another-version\""),
            Map.of("Range", "bytes=5-", "If-Range", "W/" + etag),
            Map.of("Range", "bytes=0-1,5-6"),
            Map.of("Range", "items=0-1"),
            Map.of("Range", "bytes=9-3"),
            Map.of("Range", "bytes=abc"))) {
      Got got = download(s, f.path(), h);
      assertEquals(200, got.status(), h.toString());
      assertEquals(size, got.bytes(), h.toString());
      assertNull(got.header("Content-Range"), h.toString());
    }

    // Past the end: 416 in the error shape, with the size.
    for (String unsatisfiable :
        List.of("bytes=" + size + "-", "bytes=" + (size + 5) + "-9999999999", "bytes=-0")) {
      HttpResponse<String> r =
          HTTP.send(
              request(s, f.path()).header("Range", unsatisfiable).build(),
              HttpResponse.BodyHandlers.ofString());
      assertEquals(416, r.statusCode(), unsatisfiable);
      assertEquals("bytes */" + size, r.headers().firstValue("Content-Range").orElse(null));
      JsonNode e = JSON.readTree(r.body());
      assertEquals("validation", e.path("error_type").asText(), r.body());
      assertEquals(
          r.headers().firstValue("X-Request-ID").orElse(null), e.path("request_id").asText());
    }
  }

  private static InputStream skipped(long seed, long size, long from) throws IOException {
    InputStream in = TestData.stream(seed, size);
    in.skipNBytes(from);
    return in;
  }

  private static void assertRange(Server s, Uploaded f, String range, long first, long length)
      throws Exception {
    HttpResponse<byte[]> r =
        HTTP.send(
            request(s, f.path()).header("Range", range).build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(206, r.statusCode(), range);
    assertEquals(
        "bytes " + first + "-" + (first + length - 1) + "/" + f.size(),
        r.headers().firstValue("Content-Range").orElse(null),
        range);
    assertEquals(Long.toString(length), r.headers().firstValue("Content-Length").orElse(null));
    assertArrayEquals(TestData.slice(f.seed(), first, (int) length), r.body(), range);
  }

  // ---- slow, vanishing and stalled clients

  @ParameterizedTest
  @EnumSource(Store.class)
  void aSlowReaderGetsTheWholeFile(Store store) throws Exception {
    Server s = server(store);
    Uploaded f = uploaded(s, store, 20 * MIB);
    try (RawDownload d = RawDownload.start(s, f.path())) {
      var md = TestData.sha256();
      byte[] buf = new byte[64 * 1024];
      long got = 0;
      long started = System.nanoTime();
      // 16 MiB/s: the server waits on this reader at every write, never near its send timeout.
      // The connection stays open (keep-alive): read what Content-Length announces.
      for (int n; got < d.contentLength && (n = d.in.read(buf)) != -1; ) {
        md.update(buf, 0, n);
        got += n;
        long ahead = got * 1_000_000_000L / (16 * MIB) - (System.nanoTime() - started);
        if (ahead > 0) {
          Thread.sleep(Duration.ofNanos(ahead));
        }
      }
      assertTrue(System.nanoTime() - started > Duration.ofMillis(1200).toNanos(), "really slow");
      assertEquals(f.size(), d.contentLength);
      assertEquals(f.size(), got);
      assertEquals(TestData.sha256(f.seed(), f.size()), HexFormat.of().formatHex(md.digest()));
    }
  }

  @ParameterizedTest
  @EnumSource(Store.class)
  void aClientThatGoesAwayHalfWayLeavesNothingOpen(Store store) throws Exception {
    Server s = server(store);
    Uploaded f = uploaded(s, store, MAX);
    try (RawDownload d = RawDownload.start(s, f.path())) {
      d.read(f.size() / 2);
      awaitTrue(
          () -> openHandles(s, f) > 0, Duration.ofSeconds(10), "the download holds its source");
    }
    // Closed with unread bytes: the next write fails at once, long before the send timeout.
    awaitTrue(() -> openHandles(s, f) == 0, SEND_TIMEOUT.minusSeconds(1), "source released");
  }

  @ParameterizedTest
  @EnumSource(Store.class)
  void aClientThatStopsReadingIsCutOffAfterTheSendTimeout(Store store) throws Exception {
    Server s = server(store);
    Uploaded f = uploaded(s, store, MAX);
    try (RawDownload d = RawDownload.start(s, f.path())) {
      d.read(MIB);
      long stopped = System.nanoTime();
      awaitTrue(
          () -> openHandles(s, f) > 0, Duration.ofSeconds(10), "the download holds its source");
      awaitTrue(() -> openHandles(s, f) == 0, SEND_TIMEOUT.multipliedBy(3), "source released");
      assertTrue(
          System.nanoTime() - stopped > SEND_TIMEOUT.minusSeconds(1).toNanos(),
          "released by the send timeout, not earlier");
      // What the server had sent before is still readable; then the connection ends short.
      long rest = d.drain();
      assertTrue(d.consumed + rest < f.size(), "cut short: " + (d.consumed + rest));
    }
  }

  /** The abort itself is store-independent; the disk store can be broken under a download. */
  @Test
  void aStoreFailingMidDownloadEndsTheConnectionShortNotCleanly() throws Exception {
    Server s = server(Store.DISK);
    Uploaded f = uploaded(s, Store.DISK, MAX);
    Path object;
    try (var files = Files.walk(s.dataDir().resolve("objects/sessions/" + f.sid()))) {
      object =
          files.filter(p -> p.getFileName().toString().equals(f.fid())).findFirst().orElseThrow();
    }
    try (RawDownload d = RawDownload.start(s, f.path())) {
      d.read(MIB);
      try (FileChannel ch = FileChannel.open(object, StandardOpenOption.WRITE)) {
        ch.truncate(f.size() / 2);
      }
      long rest = d.drain();
      assertEquals(f.size() / 2, d.consumed + rest, "every stored byte, then the end");
      assertTrue(d.consumed + rest < d.contentLength);
    }
    awaitTrue(() -> openHandles(s, f) == 0, Duration.ofSeconds(10), "source released");
    UPLOADS.remove(Store.DISK + "/" + MAX); // broken on purpose
  }

  // ---- helpers

  /**
   * What the API holds open for a file: on disk, descriptors of its object file; on S3, sockets to
   * S3 with unread response bytes (a stream nobody closed; idle pooled connections have none).
   */
  private static long openHandles(Server s, Uploaded f) {
    if (s.s3Port() < 0) {
      return fdsMatching(s.dataDir().resolve("objects/sessions/" + f.sid()).toString());
    }
    return s3SocketsWithUnreadBytes(s.s3Port());
  }

  private static long fdsMatching(String prefix) {
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      return fds.filter(
              p -> {
                try {
                  return Files.readSymbolicLink(p).toString().startsWith(prefix);
                } catch (IOException e) {
                  return false; // closed meanwhile
                }
              })
          .count();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static long s3SocketsWithUnreadBytes(int port) {
    List<String> ours = new ArrayList<>();
    try (var fds = Files.list(Path.of("/proc/self/fd"))) {
      fds.forEach(
          p -> {
            try {
              String link = Files.readSymbolicLink(p).toString();
              if (link.startsWith("socket:[")) {
                ours.add(link.substring(8, link.length() - 1));
              }
            } catch (IOException e) {
              // closed meanwhile
            }
          });
      long n = 0;
      String hexPort = String.format(Locale.ROOT, "%04X", port);
      for (String table : List.of("/proc/self/net/tcp", "/proc/self/net/tcp6")) {
        for (String line : Files.readAllLines(Path.of(table))) {
          String[] c = line.strip().split("\\s+");
          if (c.length < 10 || !c[2].endsWith(":" + hexPort) || !c[3].equals("01")) {
            continue; // not an established connection to S3
          }
          long unread = Long.parseLong(c[4].substring(c[4].indexOf(':') + 1), 16);
          if (unread > 0 && ours.contains(c[9])) {
            n++;
          }
        }
      }
      return n;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static void awaitTrue(BooleanSupplier condition, Duration timeout, String what)
      throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not within " + timeout + ": " + what);
      }
      Thread.sleep(20);
    }
  }

  private static HttpRequest.Builder request(Server s, String path) {
    return HttpRequest.newBuilder(s.base().resolve(path))
        .header("X-API-Key", TestServer.KEY)
        .timeout(Duration.ofMinutes(2));
  }

  /** The file of that size for this store, uploaded once for the tests that need one. */
  private static Uploaded uploaded(Server s, Store store, long size) throws Exception {
    String key = store + "/" + size;
    Uploaded f = UPLOADS.get(key);
    if (f == null) {
      f = uploadNew(s, size * 31 + store.ordinal(), size, false);
      UPLOADS.put(key, f);
    }
    return f;
  }

  private static Uploaded uploadNew(Server s, long seed, long size, boolean chunked)
      throws Exception {
    HttpResponse<String> r = upload(s, "f" + size + ".bin", seed, size, chunked);
    assertEquals(200, r.statusCode(), r.body());
    JsonNode body = JSON.readTree(r.body());
    return new Uploaded(
        body.path("session_id").asText(),
        body.path("files").path(0).path("fileId").asText(),
        seed,
        size);
  }

  /**
   * A multipart upload of generated bytes, streamed: with a Content-Length like curl's, or chunked
   * like a client sending from a generator.
   */
  private static HttpResponse<String> upload(
      Server s, String name, long seed, long size, boolean chunked) throws Exception {
    String boundary = "kcrLarge" + System.nanoTime();
    byte[] head =
        ("--"
                + boundary
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
                + name
                + "\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .getBytes(StandardCharsets.UTF_8);
    byte[] tail = ("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8);
    HttpRequest.BodyPublisher stream =
        HttpRequest.BodyPublishers.ofInputStream(
            () ->
                new SequenceInputStream(
                    new SequenceInputStream(
                        new ByteArrayInputStream(head), TestData.stream(seed, size)),
                    new ByteArrayInputStream(tail)));
    HttpRequest.BodyPublisher body =
        chunked
            ? stream
            : HttpRequest.BodyPublishers.fromPublisher(stream, head.length + size + tail.length);
    return HTTP.send(
        request(s, "/upload")
            .header("Content-Type", "multipart/form-data; boundary=" + boundary)
            .POST(body)
            .timeout(Duration.ofMinutes(3))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  record Got(
      int status, long contentLength, long bytes, String sha256, Map<String, String> headers) {
    String header(String name) {
      return headers.get(name.toLowerCase(Locale.ROOT));
    }
  }

  /**
   * A download read to the end of its Content-Length while hashing, on a plain socket: a body that
   * stops short fails with a read timeout instead of hanging (no chunked encoding is accepted).
   */
  private static Got download(Server s, String path, Map<String, String> headers)
      throws IOException {
    try (RawDownload d = RawDownload.start(s, path, headers, 1024 * 1024)) {
      var md = TestData.sha256();
      byte[] buf = new byte[64 * 1024];
      long n = 0;
      while (n < d.contentLength) {
        int k = d.in.read(buf, 0, (int) Math.min(buf.length, d.contentLength - n));
        if (k < 0) {
          break;
        }
        md.update(buf, 0, k);
        n += k;
      }
      return new Got(
          d.status, d.contentLength, n, HexFormat.of().formatHex(md.digest()), d.headers);
    }
  }

  /**
   * A GET on a plain socket, for clients that read slowly, stop reading, or go away: the test
   * decides when bytes are read. A read waits at most 30 s.
   */
  static final class RawDownload implements AutoCloseable {
    final Socket socket;
    final InputStream in;
    final int status;
    final Map<String, String> headers;
    final long contentLength;
    long consumed;

    private RawDownload(Socket socket, InputStream in, int status, Map<String, String> headers) {
      this.socket = socket;
      this.in = in;
      this.status = status;
      this.headers = headers;
      this.contentLength = Long.parseLong(headers.getOrDefault("content-length", "-1"));
    }

    /** A 200 download with a small receive buffer, so the server soon waits on this reader. */
    static RawDownload start(Server s, String path) throws IOException {
      RawDownload d = start(s, path, Map.of(), 64 * 1024);
      if (d.status != 200) {
        d.close();
        throw new AssertionError("not a 200: " + d.status + " " + d.headers);
      }
      return d;
    }

    static RawDownload start(Server s, String path, Map<String, String> extra, int receiveBuffer)
        throws IOException {
      Socket socket = new Socket();
      socket.setReceiveBufferSize(receiveBuffer);
      socket.connect(new InetSocketAddress("127.0.0.1", s.base().getPort()), 5000);
      socket.setSoTimeout((int) Duration.ofSeconds(30).toMillis());
      StringBuilder req =
          new StringBuilder("GET ")
              .append(path)
              .append(" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: ")
              .append(TestServer.KEY)
              .append("\r\n");
      extra.forEach((k, v) -> req.append(k).append(": ").append(v).append("\r\n"));
      OutputStream out = socket.getOutputStream();
      out.write(req.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1));
      out.flush();
      InputStream in = socket.getInputStream();
      StringBuilder head = new StringBuilder();
      while (!head.toString().endsWith("\r\n\r\n")) {
        int c = in.read();
        if (c < 0) {
          socket.close();
          throw new IOException("no response head: " + head);
        }
        head.append((char) c);
      }
      String[] lines = head.toString().split("\r\n");
      Map<String, String> headers = new HashMap<>();
      for (int i = 1; i < lines.length; i++) {
        int colon = lines[i].indexOf(':');
        headers.put(
            lines[i].substring(0, colon).strip().toLowerCase(Locale.ROOT),
            lines[i].substring(colon + 1).strip());
      }
      if (headers.containsKey("transfer-encoding")) {
        socket.close();
        throw new AssertionError("a download must have a Content-Length, not chunks: " + head);
      }
      return new RawDownload(socket, in, Integer.parseInt(lines[0].split(" ")[1]), headers);
    }

    /** Reads exactly {@code n} body bytes. */
    void read(long n) throws IOException {
      byte[] buf = new byte[64 * 1024];
      long left = n;
      while (left > 0) {
        int k = in.read(buf, 0, (int) Math.min(buf.length, left));
        if (k < 0) {
          throw new IOException("ended after " + (n - left));
        }
        left -= k;
      }
      consumed += n;
    }

    /** Reads until the server ends the connection (an end or a reset); returns the bytes read. */
    long drain() {
      byte[] buf = new byte[64 * 1024];
      long n = 0;
      try {
        for (int k; (k = in.read(buf)) != -1; ) {
          n += k;
        }
      } catch (IOException e) {
        // a reset ends it too
      }
      return n;
    }

    @Override
    public void close() throws IOException {
      socket.close();
    }
  }
}
