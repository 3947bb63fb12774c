package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.Application;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxFactory;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * What /exec makes of a runner's answer that goes past what the runner's protocol promises: on
 * Kubernetes user code shares the runner's uid and could stand in for it. The API, with a stand-in
 * runner (a JDK HttpServer answering a canned reply) as its sandbox backend: the answer is cut to
 * the API's own bounds, or the run is a sandbox failure (503), never a 500.
 */
class RunnerRepliesTest {
  private static final String KEY = "runner-replies-test-key-0123456789";
  private static final int MAX_OUTPUT = 1024;

  private HttpServer runner;
  private volatile String answer;
  private volatile int status = 200; // of the answer to /execute
  private volatile String waitAnswer = "{\"status\":\"ok\"}"; // to /ptc/wait
  private volatile String executed; // the last request to /execute
  private volatile Runnable onFileRead = () -> {}; // before a file of the run is sent
  private final AtomicInteger sandboxes = new AtomicInteger(); // made by factory()
  private Application app;
  private Path data;
  private final HttpClient client = HttpClient.newHttpClient();

  @BeforeEach
  void start() throws IOException {
    runner = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    runner.createContext(
        "/",
        ex -> {
          String path = ex.getRequestURI().getPath();
          try (InputStream in = ex.getRequestBody()) {
            String request = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            if (path.equals("/execute")) {
              executed = request;
            }
          }
          if (path.startsWith("/files/")) {
            onFileRead.run();
          }
          String text =
              switch (path) {
                case "/execute" -> answer;
                case "/ptc/wait" -> waitAnswer;
                default -> "{\"status\":\"ok\"}";
              };
          byte[] body = text.getBytes(StandardCharsets.UTF_8);
          ex.sendResponseHeaders(path.equals("/execute") ? status : 200, body.length);
          try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
          }
        });
    runner.start();
    data = Files.createTempDirectory("runner-replies");
    app = Application.start(Config.from(env()), factory());
  }

  /** The API's settings: the stand-in runner's sandboxes, small outputs, no output files. */
  private Map<String, String> env() {
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", KEY);
    env.put("API_HOST", "127.0.0.1");
    env.put("API_PORT", "0");
    env.put("DATA_DIR", data.toString());
    env.put("POD_POOL_PY", "0");
    env.put("POD_POOL_JS", "0");
    env.put("MAX_OUTPUT_SIZE", Integer.toString(MAX_OUTPUT));
    env.put("MAX_OUTPUT_FILES", "0");
    return env;
  }

  /** Starts the API again with {@code keyValues} (a name, its value, ...) on top of env(). */
  private void restartWith(String... keyValues) {
    app.close();
    Map<String, String> env = env();
    for (int i = 0; i < keyValues.length; i += 2) {
      env.put(keyValues[i], keyValues[i + 1]);
    }
    app = Application.start(Config.from(env), factory());
  }

  @AfterEach
  void stop() throws IOException {
    app.close();
    runner.stop(0);
    try (Stream<Path> files = Files.walk(data)) {
      files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }
  }

  /** A runner's answer to execute with {@code fields} besides an exit code of 0. */
  private static String reply(String fields) {
    return "{\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\",\"duration_ms\":1,\"files\":[],"
        + "\"deleted\":[]"
        + (fields.isEmpty() ? "" : "," + fields)
        + "}";
  }

  private HttpResponse<String> exec(String lang) throws IOException, InterruptedException {
    return exec(Map.of("lang", lang, "code", "print(1)"));
  }

  private HttpResponse<String> exec(Map<String, Object> body)
      throws IOException, InterruptedException {
    return client.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/v1/exec"))
            .header("X-API-Key", KEY)
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(Json.writeString(body)))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void outputLongerThanTheLimitIsCutAndSaidSo() throws Exception {
    answer = reply("\"stdout\":\"" + "x".repeat(100_000) + "\"");
    HttpResponse<String> res = exec("py");
    assertEquals(200, res.statusCode(), res.body());
    String stdout = Json.MAPPER.readTree(res.body()).path("stdout").asText();
    assertEquals(
        "x".repeat(MAX_OUTPUT + OutputText.NOTICE_ROOM)
            + "\n[output truncated: more than "
            + MAX_OUTPUT
            + " bytes]\n",
        stdout);
  }

  /** The runner's answer to the runs below: two generated files, out1.txt and out2.txt. */
  private static final String TWO_OUTPUTS =
      "{\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\",\"duration_ms\":1,\"deleted\":[],"
          + "\"files\":[{\"path\":\"out1.txt\",\"size\":15,\"mtime\":1,\"change\":\"created\"},"
          + "{\"path\":\"out2.txt\",\"size\":15,\"mtime\":1,\"change\":\"created\"}]}";

  /** An upload a test makes while a run's file is sent; it must succeed. */
  private interface Upload {
    HttpResponse<String> send() throws IOException, InterruptedException;
  }

  /**
   * A run in {@code sid} (which holds before.txt) whose runner made TWO_OUTPUTS, with {@code
   * meanwhile} (of meanwhile.txt) made while the run's first file is sent: the run keeps out1.txt,
   * skips out2.txt for {@code reason}, and the session lists the three files kept.
   */
  private void assertTheRunTakesBackOut2(String sid, Upload meanwhile, String reason)
      throws Exception {
    answer = TWO_OUTPUTS;
    AtomicBoolean uploaded = new AtomicBoolean();
    onFileRead =
        () -> {
          if (uploaded.compareAndSet(false, true)) {
            try {
              assertEquals(200, meanwhile.send().statusCode());
            } catch (IOException | InterruptedException e) {
              throw new IllegalStateException(e);
            }
          }
        };

    HttpResponse<String> res = exec(Map.of("lang", "py", "code", "print(1)", "session_id", sid));
    assertEquals(200, res.statusCode(), res.body());
    JsonNode run = Json.MAPPER.readTree(res.body());
    assertTrue(uploaded.get(), "the upload ran while the run's first file was sent");
    assertEquals(1, run.path("files").size(), res.body());
    assertEquals("out1.txt", run.path("files").get(0).path("name").asText(), res.body());
    assertEquals(1, run.path("skipped_files").size(), res.body());
    assertEquals("out2.txt", run.path("skipped_files").get(0).path("name").asText(), res.body());
    assertEquals(reason, run.path("skipped_files").get(0).path("reason").asText());

    HttpResponse<String> listing = listing(sid);
    List<String> names = new java.util.ArrayList<>();
    Json.MAPPER.readTree(listing.body()).forEach(f -> names.add(f.path("name").asText()));
    assertEquals(
        List.of("before.txt", "meanwhile.txt", "out1.txt"), names.stream().sorted().toList());
  }

  /**
   * A run counts its session's files once, under the session's lock, before it stores what it made;
   * uploads take no lock. One that ends while the run stores its files (here: while the first is
   * sent) found room by its own counts: the run counts again and takes back what is past the cap.
   */
  @Test
  void anUploadEndingWhileARunStoresItsFilesLeavesTheSessionWithinItsCap() throws Exception {
    restartWith("MAX_SESSION_FILES", "3", "MAX_OUTPUT_FILES", "5");
    String sid = "cap-" + System.nanoTime();
    assertEquals(200, upload(sid, "before.txt").statusCode());
    assertTheRunTakesBackOut2(sid, () -> upload(sid, "meanwhile.txt"), "session_full");
  }

  /**
   * As for the file count, so for the bytes (MAX_SESSION_STORAGE_MB): an upload that ends while the
   * run stores its files found room by its own measure, and the run, measuring again, takes back
   * its last files until the session is within its bytes again.
   */
  @Test
  void anUploadEndingWhileARunStoresItsFilesLeavesTheSessionWithinItsBytes() throws Exception {
    restartWith("MAX_SESSION_STORAGE_MB", "1", "MAX_OUTPUT_FILES", "5");
    String sid = "bytes-" + System.nanoTime();
    assertEquals(200, upload(sid, "before.txt").statusCode()); // 10 bytes
    // What is left of the MiB but for out1.txt's 15 bytes: with both outputs, 15 bytes past it.
    String meanwhile = "m".repeat((1 << 20) - 10 - 15);
    assertTheRunTakesBackOut2(
        sid, () -> upload(sid, "meanwhile.txt", meanwhile), "session_storage_full");
  }

  /** GET /v1/files/{sid}. */
  private HttpResponse<String> listing(String sid) throws IOException, InterruptedException {
    return client.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/v1/files/" + sid))
            .header("X-API-Key", KEY)
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** POST /v1/upload of one small file named {@code name} into session {@code sid}. */
  private HttpResponse<String> upload(String sid, String name)
      throws IOException, InterruptedException {
    return upload(sid, name, name);
  }

  private HttpResponse<String> upload(String sid, String name, String content)
      throws IOException, InterruptedException {
    String body =
        "--kcrB\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n"
            + sid
            + "\r\n--kcrB\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
            + name
            + "\"\r\nContent-Type: text/plain\r\n\r\n"
            + content
            + "\r\n--kcrB--\r\n";
    return client.send(
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/v1/upload"))
            .header("X-API-Key", KEY)
            .header("Content-Type", "multipart/form-data; boundary=kcrB")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void moreUnlistedEntriesThanTheProtocolAllowsAreASandboxFailure() throws Exception {
    StringBuilder unlisted = new StringBuilder();
    for (int i = 0; i <= RunnerClient.MAX_UNLISTED; i++) {
      unlisted.append(i == 0 ? "" : ",").append("{\"path\":\"p").append(i).append("\"");
      unlisted.append(",\"kind\":\"symlink\"}");
    }
    answer = reply("\"unlisted\":[" + unlisted + "]");
    HttpResponse<String> res = exec("py");
    assertEquals(503, res.statusCode(), res.body());
    assertTrue(res.body().contains("Sandbox failure"), res.body());
  }

  /**
   * An answer costing more than the whole memory budget (2 MiB at RunnerClient.REPLY_COST a byte,
   * in a 4 MiB budget) is refused (503), not read on past the budget.
   */
  @Test
  void anAnswerCostingMoreThanTheWholeBudgetIsRefused() throws Exception {
    restartWith("REQUEST_MEMORY_BUDGET_MB", "4");
    answer = reply("\"stdout\":\"" + "x".repeat(2 << 20) + "\"");
    HttpResponse<String> res = exec("py");
    assertEquals(503, res.statusCode(), res.body());
    assertEquals(
        "service_unavailable", Json.MAPPER.readTree(res.body()).path("error_type").asText());
  }

  /**
   * A stored state that costs a run more than the whole budget (1 MiB uploaded, at
   * ExecutionService.STATE_COST a byte, in a 4 MiB budget) refuses the run at once (503) before it
   * takes a sandbox: the state is never carried to the runner unpaid for, and the session keeps it.
   */
  @Test
  void aStateCostingMoreThanTheWholeBudgetRefusesItsRunBeforeItTakesASandbox() throws Exception {
    restartWith("REQUEST_MEMORY_BUDGET_MB", "4");
    byte[] state = new byte[1 << 20];
    state[0] = 2;
    String sid = "larger-than-the-budget";
    HttpResponse<byte[]> up =
        client.send(
            state(sid)
                .header("Content-Type", "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(state))
                .build(),
            HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(201, up.statusCode());
    answer = reply("");
    HttpResponse<String> res = exec(Map.of("lang", "py", "code", "print(1)", "session_id", sid));
    assertEquals(503, res.statusCode(), res.body());
    assertEquals("1", res.headers().firstValue("Retry-After").orElse(null), res.body());
    assertEquals(
        "service_unavailable", Json.MAPPER.readTree(res.body()).path("error_type").asText());
    assertEquals(0, sandboxes.get(), "no sandbox taken");
    assertNull(executed, "the runner was never asked to run it");
    HttpResponse<byte[]> kept =
        client.send(state(sid).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
    assertEquals(200, kept.statusCode());
    assertArrayEquals(state, kept.body(), "the session's state as it was");
  }

  private HttpRequest.Builder state(String sid) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/v1/state/" + sid))
        .header("X-API-Key", KEY);
  }

  /**
   * A session of 130 files, 8 KiB each to list (FileService.LISTED_FILE_BYTES), made by a run with
   * a memory budget of 1 MiB: more than the budget holds.
   */
  private String sessionLargerThanTheBudget() throws Exception {
    restartWith("REQUEST_MEMORY_BUDGET_MB", "1", "MAX_OUTPUT_FILES", "200");
    StringBuilder files = new StringBuilder();
    for (int i = 0; i < 130; i++) {
      files.append(i == 0 ? "" : ",").append("{\"path\":\"f").append(i).append(".txt\"");
      files.append(",\"size\":15,\"mtime\":1,\"change\":\"created\"}");
    }
    answer = reply("\"files\":[" + files + "]");
    HttpResponse<String> made = exec("py");
    assertEquals(200, made.statusCode(), made.body());
    JsonNode run = Json.MAPPER.readTree(made.body());
    assertEquals(130, run.path("files").size(), made.body());
    answer = reply("");
    return run.path("session_id").asText();
  }

  /**
   * An input found by name (an older client's reference, without an id) lists its whole session:
   * paid for before it is listed, all of it, so a session of more files than the budget holds is a
   * 503, not a listing loaded unpaid.
   */
  @Test
  void anInputFoundByNameInASessionLargerThanTheBudgetIsRefused() throws Exception {
    String sid = sessionLargerThanTheBudget();
    Map<String, Object> ref = Map.of("id", "", "session_id", sid, "name", "f0.txt");
    HttpResponse<String> res =
        exec(Map.of("lang", "py", "code", "print(1)", "files", List.of(ref)));
    assertEquals(503, res.statusCode(), res.body());
    assertEquals("1", res.headers().firstValue("Retry-After").orElse(null), res.body());
  }

  /**
   * GET /files of that session is refused the same way (503), not listed holding the whole budget
   * and more than it paid for.
   */
  @Test
  void aListingOfASessionLargerThanTheBudgetIsRefused() throws Exception {
    String sid = sessionLargerThanTheBudget();
    HttpResponse<String> res = listing(sid);
    assertEquals(503, res.statusCode(), res.body());
    assertEquals("1", res.headers().firstValue("Retry-After").orElse(null), res.body());
    assertEquals(
        "service_unavailable", Json.MAPPER.readTree(res.body()).path("error_type").asText());
  }

  /**
   * A runner that ignores max_state_bytes (an older one) and sends a larger state: the run is
   * answered, the state not kept and said so, and the session's previous state is gone too (the
   * answer says has_state false). An 8 MiB budget keeps ~390 KiB (ExecutionService.maxStateBytes).
   */
  @Test
  void aStateOverTheLimitAskedForIsNotKeptEvenFromARunnerThatSentIt() throws Exception {
    restartWith("REQUEST_MEMORY_BUDGET_MB", "8");
    answer = reply("\"state\":\"AgEC\"");
    JsonNode first = Json.MAPPER.readTree(exec("py").body());
    assertTrue(first.path("has_state").asBoolean(), first.toString());
    long limit = Json.MAPPER.readTree(executed).path("max_state_bytes").asLong();
    assertTrue(limit > 0 && limit < 512 << 10, executed);
    String sid = first.path("session_id").asText();

    byte[] large = new byte[512 << 10];
    large[0] = 2;
    answer =
        reply(
            "\"stdout\":\"made\\n\",\"state\":\""
                + java.util.Base64.getEncoder().encodeToString(large)
                + "\"");
    HttpResponse<String> res = exec(Map.of("lang", "py", "code", "x = 1", "session_id", sid));
    assertEquals(200, res.statusCode(), res.body());
    JsonNode run = Json.MAPPER.readTree(res.body());
    assertEquals("made\n", run.path("stdout").asText(), res.body());
    assertEquals(false, run.path("has_state").asBoolean(), res.body());
    assertTrue(
        run.path("stderr")
            .asText()
            .contains(
                "[kubecoderun] not kept for the next run: the Python state (0.5 MiB) is larger"
                    + " than the 0.3 MiB this deployment keeps; the next run starts without"
                    + " variables"),
        res.body());

    answer = reply("");
    exec(Map.of("lang", "py", "code", "print(1)", "session_id", sid));
    assertTrue(
        Json.MAPPER.readTree(executed).path("state").isMissingNode(),
        "the next run is sent no state: " + executed);
  }

  @Test
  void aStateThatIsNotBase64IsASandboxFailure() throws Exception {
    answer = reply("\"state\":\"not base64!\"");
    HttpResponse<String> res = exec("py");
    assertEquals(503, res.statusCode(), res.body());
    assertTrue(res.body().contains("Sandbox failure"), res.body());
  }

  /** A count of files left out near Integer.MAX_VALUE neither wraps around nor fails the run. */
  @Test
  void aHugeCountOfFilesLeftOutDoesNotWrapAround() throws Exception {
    answer =
        reply(
            "\"files\":[{\"path\":\"a.txt\",\"size\":1,\"mtime\":1,\"change\":\"created\"}],"
                + "\"files_omitted\":"
                + Integer.MAX_VALUE);
    HttpResponse<String> res = exec("py");
    assertEquals(200, res.statusCode(), res.body());
    JsonNode run = Json.MAPPER.readTree(res.body());
    JsonNode delivery = run.path("artifact_delivery");
    assertEquals(Integer.MAX_VALUE, delivery.path("failed").asInt(), res.body());
    assertEquals(Integer.MAX_VALUE, delivery.path("attempted").asInt(), res.body());
    assertTrue(
        run.path("stderr").asText().contains("2147483648 more generated file(s) not kept"),
        res.body());
  }

  /**
   * Every file not kept gets a line of stderr, up to a bound: past it a line counts the rest (a
   * listing of thousands would bury the code's own stderr; skipped_files names each).
   */
  @Test
  void notesOnFilesNotKeptAreBounded() throws Exception {
    StringBuilder files = new StringBuilder();
    for (int i = 0; i < 300; i++) {
      // A file name over 255 bytes: not kept (unusable_name), with a note each.
      files.append(i == 0 ? "" : ",").append("{\"path\":\"").append(i).append("x".repeat(256));
      files.append("\",\"size\":1,\"mtime\":1,\"change\":\"created\"}");
    }
    answer = reply("\"files\":[" + files + "]");
    HttpResponse<String> res = exec("py");
    assertEquals(200, res.statusCode(), res.body());
    JsonNode run = Json.MAPPER.readTree(res.body());
    assertEquals(300, run.path("skipped_files").size());
    String stderr = run.path("stderr").asText();
    long lines = stderr.lines().filter(l -> l.startsWith("[kubecoderun]")).count();
    assertEquals(ExecutionService.MAX_NOTES + 1, lines, stderr);
    assertTrue(
        stderr.endsWith(
            "[kubecoderun] 200 more note(s) not shown (skipped_files names every file not kept)"),
        stderr);
  }

  /**
   * An answer of more JSON values than the protocol's caps allow is refused before it is mapped:
   * 200,000 deleted names ({@code "a",} is 4 bytes, ~13 times that as list entries) are never built
   * into a list for the listing check to count afterwards.
   */
  @Test
  void anAnswerOfMoreValuesThanTheProtocolAllowsIsRefusedBeforeItIsBuilt() throws Exception {
    answer =
        "{\"exit_code\":0,\"stdout\":\"\",\"stderr\":\"\",\"files\":[],\"deleted\":["
            + "\"a\",".repeat(200_000)
            + "\"a\"]}";
    HttpResponse<String> res = exec("py");
    assertEquals(503, res.statusCode(), res.body());
    assertTrue(
        res.body().contains("holds more than " + RunnerClient.MAX_REPLY_TOKENS + " JSON values"),
        res.body());
  }

  /**
   * A runner's error answer is read up to its {@code error} and no further: what follows (here
   * {@code [{},{},...]}, ~25 times its bytes as a tree, cut short) is never parsed, let alone
   * built.
   */
  @Test
  void anErrorAnswerIsReadUpToItsErrorOnly() throws Exception {
    status = 500;
    answer = "{\"error\":\"boom\",\"rest\":[" + "{},".repeat(300_000);
    HttpResponse<String> res = exec("py");
    assertEquals(503, res.statusCode(), res.body());
    assertTrue(res.body().contains("runner answered 500 to execute: boom"), res.body());
  }

  /** An error answer without an {@code error} (here {@code [{},{},...]}) is shown cut short. */
  @Test
  void anErrorAnswerWithoutAnErrorIsShownCutShort() throws Exception {
    status = 500;
    answer = "[" + "{},".repeat(300_000) + "{}]";
    HttpResponse<String> res = exec("py");
    assertEquals(503, res.statusCode(), res.body());
    String message = Json.MAPPER.readTree(res.body()).path("error").asText();
    assertTrue(message.contains("runner answered 500 to execute: [{},{},"), message);
    assertTrue(message.length() < 2048, "a message of " + message.length() + " characters");
  }

  /**
   * A batch whose calls' inputs hold more JSON values than a batch may is refused before the inputs
   * become trees: the client is never asked to run it.
   */
  @Test
  void aBatchOfMoreValuesThanABatchMayHoldIsASandboxFailure() throws Exception {
    answer =
        "{\"status\":\"tool_call_required\",\"round\":1,\"tool_calls\":[{\"id\":\"call_001\","
            + "\"name\":\"get_number\",\"input\":["
            + "0,".repeat(300_000)
            + "0]}]}";
    HttpResponse<String> res = programmatic();
    assertEquals(503, res.statusCode(), res.body());
    assertTrue(
        res.body().contains("holds more than " + ProgrammaticService.MAX_BATCH_TOKENS), res.body());
  }

  /**
   * A runner's refusal of a programmatic run (400) is the client's 400, with the runner's error cut
   * at 1 KiB (it is the answer's message), read as a stream.
   */
  @Test
  void aRefusalsErrorIsCutShort() throws Exception {
    status = 400;
    answer = "{\"error\":\"" + "x".repeat(5 << 20) + "\"}";
    HttpResponse<String> res = programmatic();
    assertEquals(400, res.statusCode(), start(res.body()));
    String message = Json.MAPPER.readTree(res.body()).path("error").asText();
    assertEquals("x".repeat(1024), message);
  }

  /**
   * Why the runner ended a programmatic run ({@code ptc_detail}) is the end's error, cut at 1 KiB:
   * the end is stored and read again by each continuation that asks for it.
   */
  @Test
  void theRunnersWordOnWhyARunEndedIsCutShort() throws Exception {
    answer = "{\"status\":\"ended\"}";
    waitAnswer = reply("\"ptc_end\":\"error\",\"ptc_detail\":\"" + "d".repeat(5 << 20) + "\"");
    HttpResponse<String> res = programmatic();
    assertEquals(200, res.statusCode(), start(res.body()));
    JsonNode end = Json.MAPPER.readTree(res.body());
    assertEquals("error", end.path("status").asText(), start(res.body()));
    assertEquals("d".repeat(RunnerClient.MAX_RUNNER_TEXT) + "...", end.path("error").asText());
  }

  /**
   * Cut short where a character outside the BMP (two chars) straddles the bound, the runner's word
   * leaves it out whole: half of it would be a lone surrogate in the JSON answer.
   */
  @Test
  void theRunnersWordCutShortHoldsNoHalfCharacter() throws Exception {
    answer = "{\"status\":\"ended\"}";
    String detail = "d".repeat(RunnerClient.MAX_RUNNER_TEXT - 1) + "\uD83D\uDE00d";
    waitAnswer = reply("\"ptc_end\":\"error\",\"ptc_detail\":\"" + detail + "\"");
    HttpResponse<String> res = programmatic();
    assertEquals(200, res.statusCode(), start(res.body()));
    JsonNode end = Json.MAPPER.readTree(res.body());
    assertEquals(
        "d".repeat(RunnerClient.MAX_RUNNER_TEXT - 1) + "...",
        end.path("error").asText(),
        start(res.body()));
  }

  /**
   * The end of a programmatic run (the answer to /ptc/wait, read both as how the run ended and as
   * its result) of more JSON values than the protocol allows is refused, as an /execute answer is:
   * the run failed, whatever the answer says.
   */
  @Test
  void anEndOfMoreValuesThanTheProtocolAllowsIsRefused() throws Exception {
    answer = "{\"status\":\"ended\"}";
    String values = "\"a\",".repeat((int) RunnerClient.MAX_REPLY_TOKENS);
    waitAnswer = reply("\"ptc_end\":\"completed\",\"state_errors\":[" + values + "\"a\"]");
    HttpResponse<String> res = programmatic();
    assertEquals(200, res.statusCode(), start(res.body()));
    JsonNode end = Json.MAPPER.readTree(res.body());
    assertEquals("error", end.path("status").asText(), start(res.body()));
    assertEquals("Execution failed or timed out", end.path("error").asText(), start(res.body()));
  }

  /** The start of a long answer, for a failure's message. */
  private static String start(String body) {
    return body.length() > 2000 ? body.substring(0, 2000) + "..." : body;
  }

  /**
   * The first answer of a programmatic run outside the protocol (not JSON, {@code null}, a batch
   * calling a tool the run never registered) is a sandbox failure: not a store's failure (as an
   * unreadable answer was told), not a 500, and the client is never asked to run that tool.
   */
  @ParameterizedTest
  @ValueSource(
      strings = {
        "not JSON",
        "null",
        "{\"status\":\"tool_call_required\",\"round\":1,\"tool_calls\":"
            + "[{\"id\":\"call_001\",\"name\":\"delete_account\",\"input\":{}}]}"
      })
  void aProgrammaticRunAnsweredOutsideTheProtocolIsASandboxFailure(String first) throws Exception {
    answer = first;
    HttpResponse<String> res = programmatic();
    assertEquals(503, res.statusCode(), res.body());
    assertTrue(res.body().contains("Sandbox failure"), res.body());
  }

  /** Starts a programmatic run of a Python program that calls the tool get_number. */
  private HttpResponse<String> programmatic() throws IOException, InterruptedException {
    return client.send(
        HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + app.port() + "/v1/exec/programmatic"))
            .header("X-API-Key", KEY)
            .header("Content-Type", "application/json")
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    Json.writeString(
                        Map.of(
                            "lang",
                            "py",
                            "code",
                            "print(await get_number())",
                            "tools",
                            List.of(Map.of("name", "get_number"))))))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** A backend whose sandboxes are the stand-in runner. */
  private SandboxFactory factory() {
    WebClient http = WebClient.builder().build();
    URI base = URI.create("http://127.0.0.1:" + runner.getAddress().getPort());
    return new SandboxFactory() {
      @Override
      public Sandbox create(Language language, boolean warm) {
        sandboxes.incrementAndGet();
        RunnerClient client = new RunnerClient(http, base, "stand-in");
        return new Sandbox() {
          @Override
          public String id() {
            return "stand-in";
          }

          @Override
          public Language language() {
            return language;
          }

          @Override
          public RunnerClient runner() {
            return client;
          }

          @Override
          public boolean isAlive() {
            return true;
          }

          @Override
          public void onExit(Runnable callback) {}

          @Override
          public void close() {}
        };
      }

      @Override
      public String name() {
        return "stand-in";
      }
    };
  }
}
