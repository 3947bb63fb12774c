package dev.kubecoderun.it;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.Supplier;

/**
 * Clients looping over rounds of requests while a store is stopped and started under them. Each
 * round creates data of its own (a unique token in an uploaded file, in a generated file, in a
 * Python variable) and checks that every answer carries that data and no other: its session, its
 * files, its bytes, its state. Every answer is recorded with its start and end times for the outage
 * checks; a 503 ends the round, anything but 200 or 503 with Retry-After is a problem.
 */
final class OutageLoad {
  /** One HTTP answer. {@code s3}: the request needs the object store (not only Redis). */
  record Call(String what, boolean s3, long start, long end, int status, String body) {}

  /** A 503 (or a problem) ended the round. */
  private static final class RoundEnded extends RuntimeException {
    RoundEnded() {
      super(null, null, false, false);
    }
  }

  private final TestServer server;
  private final Queue<Call> calls = new ConcurrentLinkedQueue<>();
  private final Queue<String> problems = new ConcurrentLinkedQueue<>();
  private final Set<String> newSessions = ConcurrentHashMap.newKeySet();
  private final AtomicInteger tokens = new AtomicInteger();
  private final ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor();
  private final int clientCount;

  /** Per client: the start time of its last round that ended with every answer a 200. */
  private final AtomicLongArray lastGoodRound;

  private volatile boolean stopped;

  /** Starts {@code execClients} clients of new sessions and {@code uploadClients} of uploads. */
  OutageLoad(TestServer server, int execClients, int uploadClients) {
    this.server = server;
    this.clientCount = execClients + uploadClients;
    this.lastGoodRound = new AtomicLongArray(clientCount);
    for (int i = 0; i < clientCount; i++) {
      lastGoodRound.set(i, Long.MIN_VALUE);
      int client = i;
      boolean exec = i < execClients;
      clients.submit(() -> loop(client, exec));
    }
  }

  private void loop(int client, boolean exec) {
    while (!stopped) {
      long start = System.nanoTime();
      try {
        if (exec) {
          execRound();
        } else {
          uploadRound();
        }
        lastGoodRound.set(client, start);
      } catch (RoundEnded e) {
        pause(); // a client backs off briefly, as Retry-After asks
      } catch (RuntimeException | AssertionError e) {
        problems.add("client " + client + ": " + e);
        pause();
      }
    }
  }

  /**
   * A run in a new session that keeps its token in a variable and writes it to a file; the file,
   * the session's file list and the next run of the session (Python state from Redis) must give
   * back exactly that token.
   */
  private void execRound() {
    String token = token();
    String name = "out-" + token + ".txt";
    JsonNode run =
        call(
                "exec new session",
                true,
                () ->
                    server.exec(
                        Map.of(
                            "lang",
                            "py",
                            "code",
                            "x = '" + token + "'\nopen('" + name + "', 'w').write(x)\nprint(x)")))
            .json();
    String sid = run.path("session_id").asText();
    expect(run, "stdout", token + "\n", run.path("stdout").asText());
    expect(run, "a new session id", true, !sid.isEmpty() && newSessions.add(sid));
    JsonNode files = run.path("files");
    expect(run, "one output file", 1, files.size());
    expect(run, "output name", name, files.path(0).path("name").asText());
    String fid = files.path(0).path("id").asText();
    checkListing(sid, fid, name);
    TestServer.Reply got = call("download output", true, () -> server.get(download(sid, fid)));
    expect(got, "downloaded bytes", token, got.body());
    JsonNode again =
        call(
                "exec with state",
                false,
                () -> server.exec(Map.of("lang", "py", "code", "print(x)", "session_id", sid)))
            .json();
    expect(again, "session", sid, again.path("session_id").asText());
    expect(again, "stdout from state", token + "\n", again.path("stdout").asText());
  }

  /**
   * An upload of unique bytes into a new session; its listing, its download and a run that reads it
   * must give back exactly those bytes, in that session.
   */
  private void uploadRound() {
    String token = token();
    String name = "in-" + token + ".txt";
    byte[] content =
        (token + "\n" + Long.toHexString(ThreadLocalRandom.current().nextLong()) + "\n")
            .getBytes(StandardCharsets.UTF_8);
    JsonNode up =
        call("upload", true, () -> server.upload("/upload", name, content, Map.of())).json();
    String sid = up.path("session_id").asText();
    expect(up, "a new session id", true, !sid.isEmpty() && newSessions.add(sid));
    expect(up, "one stored file", 1, up.path("files").size());
    expect(up, "stored name", name, up.path("files").path(0).path("filename").asText());
    String fid = up.path("files").path(0).path("fileId").asText();
    checkListing(sid, fid, name);
    TestServer.Reply got = call("download upload", true, () -> server.get(download(sid, fid)));
    expect(got, "downloaded bytes", true, Arrays.equals(content, got.raw().body()));
    JsonNode run =
        call(
                "exec with input",
                true,
                () ->
                    server.exec(
                        Map.of(
                            "lang",
                            "py",
                            "code",
                            "print(open('" + name + "').read().split()[0])",
                            "files",
                            List.of(Map.of("id", fid, "session_id", sid, "name", name)))))
            .json();
    expect(run, "session of the input", sid, run.path("session_id").asText());
    expect(run, "stdout", token + "\n", run.path("stdout").asText());
  }

  private void checkListing(String sid, String fid, String name) {
    JsonNode list = call("list files", false, () -> server.get("/files/" + sid)).json();
    expect(list, "files in the session", 1, list.size());
    expect(list, "listed id", fid, list.path(0).path("id").asText());
    expect(list, "listed name", name, list.path(0).path("name").asText());
  }

  private static String download(String sid, String fid) {
    return "/download/" + sid + "/" + fid;
  }

  private String token() {
    return "t"
        + tokens.incrementAndGet()
        + "x"
        + Long.toString(ThreadLocalRandom.current().nextLong() & Long.MAX_VALUE, 36);
  }

  /** Records the answer; returns it when 200, else ends the round (a problem unless 503). */
  private TestServer.Reply call(String what, boolean s3, Supplier<TestServer.Reply> request) {
    long start = System.nanoTime();
    TestServer.Reply r;
    try {
      r = request.get();
    } catch (RuntimeException e) {
      calls.add(new Call(what, s3, start, System.nanoTime(), -1, e.toString()));
      problems.add(what + ": no answer: " + e);
      throw new RoundEnded();
    }
    calls.add(new Call(what, s3, start, System.nanoTime(), r.status(), r.body()));
    if (r.status() == 200) {
      return r;
    }
    if (r.status() == 503) {
      String type = r.json().path("error_type").asText();
      if (r.header("Retry-After") == null || !type.equals("service_unavailable")) {
        problems.add(what + ": 503 without Retry-After or of type " + type + ": " + r.body());
      }
    } else {
      problems.add(what + ": " + r.status() + ": " + r.body());
    }
    throw new RoundEnded();
  }

  /** A mismatch is the worst outcome here: an answer carrying someone else's data. */
  private void expect(Object answer, String what, Object expected, Object actual) {
    if (!expected.equals(actual)) {
      problems.add(
          "WRONG DATA: " + what + ": expected " + expected + ", got " + actual + " in " + answer);
      throw new RoundEnded();
    }
  }

  private static void pause() {
    try {
      Thread.sleep(20);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  /** Waits until every client has completed a round, all 200, that started after {@code since}. */
  void awaitGoodRoundsAfter(long since, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      boolean all = true;
      for (int i = 0; i < clientCount; i++) {
        all &= lastGoodRound.get(i) != Long.MIN_VALUE && lastGoodRound.get(i) - since >= 0;
      }
      if (all) {
        return;
      }
      Thread.sleep(50);
    }
    throw new AssertionError(
        "not every client completed a round in "
            + timeout
            + "; problems: "
            + problems()
            + "; last answers: "
            + summary(calls().subList(Math.max(0, calls().size() - 10), calls().size())));
  }

  /** Waits until {@code count} requests that started after {@code since} have been answered. */
  void awaitCallsAfter(long since, int count, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (calls.stream().filter(c -> c.start() - since >= 0).count() < count) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("fewer than " + count + " answers in " + timeout);
      }
      Thread.sleep(50);
    }
  }

  List<Call> calls() {
    return new ArrayList<>(calls);
  }

  List<String> problems() {
    return new ArrayList<>(problems);
  }

  /** Answers by status, and a few of each, for assertion messages. */
  static String summary(List<Call> calls) {
    Map<Integer, List<Call>> byStatus = new java.util.TreeMap<>();
    calls.forEach(c -> byStatus.computeIfAbsent(c.status(), s -> new ArrayList<>()).add(c));
    StringBuilder sb = new StringBuilder();
    byStatus.forEach(
        (status, cs) -> {
          sb.append(status).append(" x ").append(cs.size()).append(" e.g. ");
          cs.stream()
              .limit(2)
              .forEach(
                  c ->
                      sb.append(c.what())
                          .append(": ")
                          .append(c.body(), 0, Math.min(200, c.body().length()))
                          .append("; "));
        });
    return sb.toString();
  }

  /** Stops the clients and waits for their last rounds. */
  void stop() throws InterruptedException {
    stopped = true;
    clients.shutdown();
    if (!clients.awaitTermination(2, TimeUnit.MINUTES)) {
      throw new AssertionError("load clients did not stop");
    }
  }
}
