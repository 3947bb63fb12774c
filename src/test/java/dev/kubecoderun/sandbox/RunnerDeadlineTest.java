package dev.kubecoderun.sandbox;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.memory.Room;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Every call to a runner ends by its deadline, whatever the runner does: against a stand-in runner
 * (a JDK HttpServer) that trickles its answers a byte at a time, or never reads what it is sent, as
 * user code answering in the runner's place on Kubernetes could. A read timeout alone never fires
 * on a byte every 20 ms.
 */
class RunnerDeadlineTest {
  private static final Duration DEADLINE = Duration.ofSeconds(1);

  /** Far past the deadline: a call still going then was not cut by it. */
  private static final Duration GIVE_UP = Duration.ofSeconds(20);

  private static final int LARGE = 256 << 10;

  private HttpServer server;
  private ExecutorService handlers;
  private RunnerClient client;
  private final AtomicBoolean storeInterrupted = new AtomicBoolean();

  @BeforeEach
  void start() throws IOException {
    server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    handlers = Executors.newCachedThreadPool();
    server.setExecutor(handlers);
    server.createContext("/execute", RunnerDeadlineTest::trickle);
    server.createContext("/health", RunnerDeadlineTest::trickle);
    server.createContext("/ptc/wait", RunnerDeadlineTest::trickle);
    server.createContext("/files/", RunnerDeadlineTest::trickle);
    server.createContext(
        "/files/kept.txt",
        ex -> {
          ex.sendResponseHeaders(200, 3);
          ex.getResponseBody().write("abc".getBytes(java.nio.charset.StandardCharsets.UTF_8));
          ex.close();
        });
    server.createContext(
        "/ptc/large",
        ex -> {
          // A large answer, at once: only the caller's waits for memory can make it slow.
          byte[] body = new byte[LARGE];
          java.util.Arrays.fill(body, (byte) 'x');
          ex.getRequestBody().readAllBytes();
          ex.sendResponseHeaders(200, body.length);
          ex.getResponseBody().write(body);
          ex.close();
        });
    server.createContext(
        "/files",
        ex -> {
          // Takes a file's headers, never its bytes: the sender blocks once the socket is full.
          await(ex);
        });
    server.start();
    client =
        new RunnerClient(
            WebClient.builder().build(),
            URI.create("http://127.0.0.1:" + server.getAddress().getPort()),
            "t0ken");
  }

  @AfterEach
  void stop() {
    server.stop(0);
    handlers.shutdownNow();
  }

  /** Answers 200, then a space every 20 ms until the client goes away. */
  private static void trickle(HttpExchange ex) throws IOException {
    ex.sendResponseHeaders(200, 0);
    OutputStream out = ex.getResponseBody();
    try {
      while (true) {
        out.write(' ');
        out.flush();
        Thread.sleep(20);
      }
    } catch (IOException | InterruptedException gone) {
      ex.close();
    }
  }

  /** Holds the exchange open, reading nothing, until the server stops. */
  private static void await(HttpExchange ex) {
    try {
      Thread.sleep(Long.MAX_VALUE);
    } catch (InterruptedException stopped) {
      ex.close();
    }
  }

  /** A call to the runner, as the service makes it: on a virtual thread. */
  @FunctionalInterface
  private interface Call {
    void run() throws Exception;
  }

  /**
   * Runs {@code call} on a virtual thread and returns how it failed and how long it took; fails the
   * test when it is still going {@link #GIVE_UP} later, or left its thread interrupted.
   */
  private static Ended failureOf(Call call) throws Exception {
    CompletableFuture<Ended> ended = new CompletableFuture<>();
    long began = System.nanoTime();
    Thread.ofVirtual()
        .start(
            () -> {
              Throwable failure = null;
              try {
                call.run();
              } catch (Throwable e) {
                failure = e;
              }
              ended.complete(
                  new Ended(
                      failure,
                      Duration.ofNanos(System.nanoTime() - began),
                      Thread.currentThread().isInterrupted()));
            });
    try {
      return ended.get(GIVE_UP.toSeconds(), TimeUnit.SECONDS);
    } catch (TimeoutException e) {
      return fail("the call was still going " + GIVE_UP.toSeconds() + " s after it began");
    }
  }

  private record Ended(Throwable failure, Duration took, boolean leftInterrupted) {
    /** Ended by its deadline: near it, a sandbox failure saying so, no interrupt left behind. */
    void byTheDeadline(String what) {
      SandboxException e = assertInstanceOf(SandboxException.class, failure);
      assertTrue(e.getMessage().contains("did not finish " + what + " within 1 s"), e.getMessage());
      assertTrue(took.compareTo(DEADLINE) >= 0, "ended before its deadline: " + took);
      assertTrue(took.compareTo(DEADLINE.multipliedBy(5)) < 0, "ended long after it: " + took);
      assertFalse(leftInterrupted, "the deadline's interrupt was left on the thread");
    }
  }

  @Test
  void aRunWhoseAnswerTricklesEndsAtItsDeadline() throws Exception {
    RunnerRequest request = new RunnerRequest("py", "print(1)", 1000, List.of(), null, false);
    failureOf(() -> client.execute(request, DEADLINE, 1 << 20, Room.NONE)).byTheDeadline("the run");
  }

  @Test
  void aProgrammaticCallWhoseAnswerTricklesEndsAtItsDeadline() throws Exception {
    failureOf(() -> client.post("/ptc/wait", Map.of(), DEADLINE, 1 << 20, Room.NONE))
        .byTheDeadline("/ptc/wait");
  }

  /**
   * A file trickled ends at its deadline as a sandbox failure, not as a file that broke off (which
   * would skip it and go on to the next); what the reader does with the bytes (the file store) is
   * never interrupted, only the waits on the runner.
   */
  @Test
  void aFileThatTricklesEndsAtItsDeadlineWithoutInterruptingTheStore() throws Exception {
    failureOf(
            () ->
                client.readFile(
                    "out.txt",
                    DEADLINE,
                    in -> {
                      byte[] b = new byte[1];
                      while (in.read(b) > 0) {
                        store();
                      }
                      return null;
                    }))
        .byTheDeadline("sending a file");
    assertFalse(storeInterrupted.get(), "the store was interrupted");
  }

  /** Stands for a store's write: busy for a while off the runner's connection. */
  private void store() {
    long until = System.nanoTime() + Duration.ofMillis(30).toNanos();
    while (System.nanoTime() < until) {
      if (Thread.currentThread().isInterrupted()) {
        storeInterrupted.set(true);
      }
      Thread.onSpinWait();
    }
  }

  /** A runner that never reads an input file it is sent: the write blocks, and is cut. */
  @Test
  void anInputTheRunnerNeverTakesEndsAtItsDeadline() throws Exception {
    InputStream endless =
        new InputStream() {
          @Override
          public int read() {
            return 'x';
          }

          @Override
          public int read(byte[] b, int off, int len) {
            java.util.Arrays.fill(b, off, off + len, (byte) 'x');
            return len;
          }
        };
    Ended ended = failureOf(() -> client.putFile("in.txt", endless, DEADLINE));
    ended.byTheDeadline("taking the input file in.txt");
  }

  /** A health check trickled is not healthy, by its 2 s. */
  @Test
  void aTrickledHealthCheckIsUnhealthyWithinItsTwoSeconds() throws Exception {
    boolean[] healthy = {true};
    Ended ended = failureOf(() -> healthy[0] = client.healthy("py"));
    assertFalse(healthy[0]);
    assertTrue(ended.took().compareTo(Duration.ofSeconds(10)) < 0, "took " + ended.took());
    assertFalse(ended.leftInterrupted());
  }

  /**
   * A file read whole is kept though its store outlasted the deadline: only the waits on the runner
   * count, and what was stored stands.
   */
  @Test
  void aFileReadWholeIsKeptThoughItsStoreOutlastsTheDeadline() throws Exception {
    String[] got = {null};
    Ended ended =
        failureOf(
            () ->
                got[0] =
                    client.readFile(
                        "kept.txt",
                        DEADLINE,
                        in -> {
                          String text = new String(in.readAllBytes(), "UTF-8");
                          long until = System.nanoTime() + DEADLINE.multipliedBy(2).toNanos();
                          while (System.nanoTime() < until) {
                            Thread.onSpinWait(); // a slow store, off the runner's connection
                          }
                          return text;
                        }));
    assertEquals(null, ended.failure());
    assertEquals("abc", got[0]);
    assertFalse(ended.leftInterrupted());
  }

  /**
   * Room in the memory budget that comes only after {@code wait}, at the {@code nth} ask (a busy
   * replica whose other requests hold it), counting whether anything interrupted the wait.
   */
  private Room slowRoom(int nth, Duration wait) {
    int[] asked = {0};
    return bytes -> {
      if (++asked[0] == nth) {
        long until = System.nanoTime() + wait.toNanos();
        while (System.nanoTime() < until) {
          if (Thread.currentThread().isInterrupted()) {
            storeInterrupted.set(true);
          }
          Thread.onSpinWait();
        }
      }
      return bytes;
    };
  }

  /**
   * A runner that answers at once is not cut by its deadline while the caller waits for room to
   * read its answer into: only the runner's time counts, and that wait is not interrupted.
   */
  @Test
  void waitsForMemoryDoNotCountTowardsTheDeadline() throws Exception {
    RunnerClient.Reply[] got = {null};
    Ended ended =
        failureOf(
            () ->
                got[0] =
                    client.post(
                        "/ptc/large",
                        Map.of(),
                        DEADLINE,
                        1 << 20,
                        slowRoom(2, DEADLINE.multipliedBy(2))));
    assertEquals(null, ended.failure());
    assertEquals(200, got[0].status());
    assertEquals(LARGE, got[0].body().length);
    assertFalse(storeInterrupted.get(), "the wait for memory was interrupted");
    assertFalse(ended.leftInterrupted());
  }

  /** The clock goes on after a wait for memory: a trickled answer still ends at its deadline. */
  @Test
  void aTrickledAnswerStillEndsAtItsDeadlineAfterAWaitForMemory() throws Exception {
    Duration wait = Duration.ofMillis(1500);
    RunnerRequest request = new RunnerRequest("py", "print(1)", 1000, List.of(), null, false);
    Ended ended = failureOf(() -> client.execute(request, DEADLINE, 1 << 20, slowRoom(1, wait)));
    SandboxException e = assertInstanceOf(SandboxException.class, ended.failure());
    assertTrue(e.getMessage().contains("did not finish the run within 1 s"), e.getMessage());
    assertTrue(
        ended.took().compareTo(wait.plus(DEADLINE)) >= 0,
        "the deadline counted the wait for memory: " + ended.took());
    assertFalse(storeInterrupted.get(), "the wait for memory was interrupted");
    assertFalse(ended.leftInterrupted());
  }
}
