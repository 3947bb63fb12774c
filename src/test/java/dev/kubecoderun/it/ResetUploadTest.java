package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.kubecoderun.stores.S3Server;
import dev.kubecoderun.testing.Eventually;
import dev.kubecoderun.testing.LogCapture;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A client whose connection is reset (an RST) in the middle of its upload's file: its own failure,
 * not the service's. The log gets no stack trace and no storage failure, no store error is counted,
 * nothing is stored, and the next upload goes through; on the embedded store as on Redis and S3.
 */
@Tag("integration")
class ResetUploadTest {
  private static final String BOUNDARY = "kcrResetBoundary";
  private static final String BUCKET = "kcr-reset";
  private static LogCapture logged; // everything, from the root logger

  private static TestServer embedded;
  private static TestServer real;

  @BeforeAll
  static void start() {
    embedded = TestServer.start(Map.of("POD_POOL_PY", "0"), "0");
    Map<String, String> env = TestServer.realStoresEnv("kcr-reset:", BUCKET);
    env.put("POD_POOL_PY", "0");
    real = TestServer.start(new HashMap<>(env), "0");
    logged = LogCapture.of(Logger.getLogger(""));
  }

  @AfterAll
  static void stop() {
    logged.close();
    embedded.app.close();
    real.app.close();
  }

  @Test
  void aResetUploadOnTheEmbeddedStoreIsTheClientsFailure() throws Exception {
    Path objects = embedded.dataDir.resolve("objects");
    // The file's temporary copy, written as the file arrives.
    resetMidUpload(embedded, () -> anyFile(objects, ".tmp"));
    assertTheClientsFailureOnly(embedded);
    assertFalse(anyFile(objects, ""), "nothing stored under " + objects);
    assertUploadsStillWork(embedded);
  }

  @Test
  void aResetUploadOnS3IsTheClientsFailure() throws Exception {
    // Its part's buffer, reserved from the budget as the store starts reading the file.
    resetMidUpload(real, () -> real.gauge("kubecoderun_request_memory_held_bytes") > 0);
    assertTheClientsFailureOnly(real);
    Path bucket = S3Server.shared().bucketDir(BUCKET);
    assertFalse(anyFile(bucket, ""), "nothing stored under " + bucket);
    assertUploadsStillWork(real);
  }

  /**
   * Sends the head of a multipart upload and half of its file, waits for the store to be reading
   * it, then resets the connection (SO_LINGER 0, then close: an RST, not a FIN).
   */
  private static void resetMidUpload(TestServer server, BooleanSupplier storing) throws Exception {
    logged.clear();
    byte[] head =
        ("--"
                + BOUNDARY
                + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\""
                + "\r\nContent-Type: application/octet-stream\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII);
    byte[] half = new byte[256 * 1024];
    Socket s = new Socket();
    s.connect(new InetSocketAddress("127.0.0.1", server.app.port()), 5000);
    OutputStream out = s.getOutputStream();
    out.write(
        ("POST /v1/upload HTTP/1.1\r\nHost: localhost\r\nX-API-Key: "
                + TestServer.KEY
                + "\r\nContent-Type: multipart/form-data; boundary="
                + BOUNDARY
                + "\r\nContent-Length: "
                + (head.length + 2 * half.length + 64)
                + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
    out.write(head);
    out.write(half);
    out.flush();
    Eventually.await("the upload to be stored as it arrives", Duration.ofSeconds(30), storing);
    s.setSoLinger(true, 0);
    s.close();
  }

  /**
   * Once the server is done with the request (its access log line): nothing logged as SEVERE (a
   * 500's stack trace) or as a storage failure (a 503), and no store error counted. Helidon closes
   * the connection of a reset client without an answer (its ServerConnectionException goes past the
   * error handlers): there is no status to read, on either side.
   */
  private static void assertTheClientsFailureOnly(TestServer server) throws InterruptedException {
    Eventually.await(
        "the server to be done with the reset upload",
        Duration.ofSeconds(30),
        () -> !logged(ResetUploadTest::isTheUploadsAccessLine).isEmpty());
    assertEquals(
        List.of(),
        logged(
            r ->
                r.getLevel().intValue() >= Level.SEVERE.intValue()
                    || String.valueOf(r.getMessage()).startsWith("storage failure")),
        "nothing logged as a failure of the service");
    String metrics = metrics(server);
    assertFalse(
        Pattern.compile("(?m)^kubecoderun_store_errors_total\\{[^}]*\\} [1-9]")
            .matcher(metrics)
            .find(),
        "no store error counted: " + metrics);
  }

  /** The access log's line of a POST /v1/upload, written once the server is done with it. */
  private static boolean isTheUploadsAccessLine(LogRecord r) {
    return "request".equals(r.getMessage())
        && r.getParameters() != null
        && r.getParameters().length > 0
        && String.valueOf(r.getParameters()[0]).contains("/v1/upload");
  }

  /** The messages of the records logged since the reset that {@code which} picks. */
  private static List<String> logged(java.util.function.Predicate<LogRecord> which) {
    return logged.records().stream()
        .filter(which)
        .map(r -> r.getLevel() + " " + r.getMessage())
        .toList();
  }

  private static void assertUploadsStillWork(TestServer server) {
    TestServer.Reply ok = server.upload("/upload", "after.txt", "after".getBytes(), Map.of());
    assertEquals(200, ok.status(), ok.body());
  }

  private static String metrics(TestServer server) {
    return server
        .send(
            java.net.http.HttpRequest.newBuilder(server.base.resolve("/metrics"))
                .header("X-API-Key", TestServer.MASTER)
                .GET())
        .body();
  }

  /** Whether a file whose name ends with {@code suffix} is under {@code dir}. */
  private static boolean anyFile(Path dir, String suffix) {
    if (!Files.isDirectory(dir)) {
      return false;
    }
    try (Stream<Path> paths = Files.walk(dir)) {
      return paths.anyMatch(p -> Files.isRegularFile(p) && p.toString().endsWith(suffix));
    } catch (IOException e) {
      // a temporary file removed while walked: look again
      return anyFile(dir, suffix);
    }
  }
}
