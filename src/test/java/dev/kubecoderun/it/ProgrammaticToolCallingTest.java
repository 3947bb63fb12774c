package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.testing.Eventually;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * POST /exec/programmatic and its cancel, as LibreChat's run_tools_with_code / run_tools_with_bash
 * call them (reference section 6), on real sandboxes of the local backend.
 */
@Tag("integration")
class ProgrammaticToolCallingTest {
  TestServer server() {
    return TestServer.get();
  }

  static Map<String, Object> tool(String name) {
    Map<String, Object> t = new LinkedHashMap<>();
    t.put("name", name);
    t.put("description", "a tool");
    t.put("parameters", Map.of("type", "object"));
    t.put("allowed_callers", List.of("code_execution")); // registry keys the server ignores
    t.put("toolType", "mcp");
    return t;
  }

  static TestServer.Reply post(TestServer s, String key, String requestId, Object body) {
    HttpRequest.Builder r =
        HttpRequest.newBuilder(s.base.resolve("/v1/exec/programmatic"))
            .header("X-API-Key", key)
            .header("Content-Type", "application/json")
            .header("User-Agent", "LibreChat/1.0")
            .POST(HttpRequest.BodyPublishers.ofString(Json.writeString(body)));
    if (requestId != null) {
      r.header("X-LibreChat-Code-Request-ID", requestId);
    }
    return s.send(r);
  }

  static JsonNode start(TestServer s, Map<String, Object> body) {
    TestServer.Reply r = post(s, TestServer.KEY, null, body);
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  static Map<String, Object> python(String code, String... tools) {
    Map<String, Object> body = new HashMap<>();
    body.put("code", code);
    List<Object> ts = new ArrayList<>();
    for (String t : tools) {
      ts.add(tool(t));
    }
    body.put("tools", ts);
    body.put("timeout", 15000);
    return body;
  }

  static Map<String, Object> result(JsonNode call, Object value) {
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("call_id", call.get("id").asText());
    r.put("result", value);
    r.put("is_error", false);
    return r;
  }

  static Map<String, Object> continuation(JsonNode reply, List<Map<String, Object>> results) {
    return Map.of(
        "continuation_token", reply.get("continuation_token").asText(), "tool_results", results);
  }

  /**
   * A continuation of {@code batch}, whose run ended without it (cancelled, timed out waiting for
   * it, its sandbox dead), gets the run's end once ({@code error} saying why): on a 404 LibreChat's
   * client would have its model run the whole program, and its tools, again. The token is gone
   * after.
   */
  static void assertEndedOnce(TestServer s, String key, JsonNode batch, String error) {
    Map<String, Object> late =
        continuation(batch, List.of(result(batch.at("/tool_calls/0"), "late")));
    TestServer.Reply end = post(s, key, null, late);
    assertEquals(200, end.status(), end.body());
    assertEquals("error", end.json().get("status").asText(), end.body());
    assertEquals(error, end.json().get("error").asText(), end.body());
    assertEquals(
        batch.get("session_id").asText(), end.json().path("session_id").asText(), end.body());
    Errors.assertError(post(s, key, null, late), 404, "resource_not_found");
  }

  static JsonNode resume(TestServer s, JsonNode reply, List<Map<String, Object>> results) {
    TestServer.Reply r = post(s, TestServer.KEY, null, continuation(reply, results));
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  static void assertToolCalls(JsonNode reply, String... names) {
    assertEquals("tool_call_required", reply.get("status").asText(), reply.toString());
    assertTrue(reply.get("continuation_token").asText().length() >= 32, reply.toString());
    assertTrue(reply.get("session_id").isTextual(), reply.toString());
    JsonNode calls = reply.get("tool_calls");
    assertEquals(names.length, calls.size(), reply.toString());
    for (int i = 0; i < names.length; i++) {
      assertEquals(names[i], calls.get(i).get("name").asText(), reply.toString());
    }
  }

  /**
   * One call, then a gather of three, then a file: the flow every backend and store must pass. The
   * same sandbox serves the whole run (a variable set before the first call is still there after).
   */
  static void flow(TestServer s) {
    JsonNode r =
        start(
            s,
            python(
                """
                import asyncio, os
                pid = os.getpid()
                n = await get_number(x=2)
                print("n", n)
                a, b, c = await asyncio.gather(my_tool(i=1), _2fast(i=2), class_tool(i=3))
                print("gather", a, b["k"], c)
                open("result.txt", "w").write("%s %s" % (n, pid == os.getpid()))
                """,
                "get_number", "my-tool", "2fast", "class"));
    assertToolCalls(r, "get_number");
    assertEquals(Map.of("x", 2), Json.MAPPER.convertValue(r.at("/tool_calls/0/input"), Map.class));
    assertEquals("call_001", r.at("/tool_calls/0/id").asText());
    String session = r.get("session_id").asText();

    r = resume(s, r, List.of(result(r.at("/tool_calls/0"), 42)));
    assertToolCalls(r, "my-tool", "2fast", "class");
    assertEquals(session, r.get("session_id").asText());
    JsonNode calls = r.get("tool_calls");
    r =
        resume(
            s,
            r,
            List.of(
                result(calls.get(2), "C"),
                result(calls.get(0), List.of(1)),
                result(calls.get(1), Map.of("k", "v"))));
    assertEquals("completed", r.get("status").asText(), r.toString());
    assertEquals("n 42\ngather [1] v C\n", r.get("stdout").asText());
    assertEquals(session, r.get("session_id").asText());
    JsonNode files = r.get("files");
    assertEquals(1, files.size(), r.toString());
    assertEquals("result.txt", files.get(0).get("name").asText());
    TestServer.Reply download =
        s.get("/download/" + session + "/" + files.get(0).get("id").asText());
    assertEquals(200, download.status());
    assertEquals("42 True", download.body());
  }

  @Test
  void oneCallAGatherOfThreeAndTheGeneratedFiles() {
    flow(server());
  }

  @Test
  void bashCallsToolsWithTheClientsPrefix() {
    bashFlow(server(), false);
  }

  /**
   * Bash with LibreChat's prefix: key=value and JSON-object arguments, string and JSON results, a
   * failed tool. {@code noPython}: the sandbox has no Python (the bash image), and the code says
   * so.
   */
  static void bashFlow(TestServer s, boolean noPython) {
    Map<String, Object> body = new HashMap<>();
    body.put("lang", "bash");
    String check = noPython ? "command -v python3 python || echo no python\n" : "";
    body.put(
        "code",
        ": &\nwait \"$!\"\n"
            + check
            + "v=$(web_search q=cats n=3)\necho \"got $v\"\ndone_tool '{\"why\": \"end\"}'\n"
            + "web_search q=dogs || echo \"failed $?\"\n");
    body.put("tools", List.of(tool("web.search"), tool("done")));
    JsonNode r = start(s, body);
    assertToolCalls(r, "web.search");
    assertEquals("cats", r.at("/tool_calls/0/input/q").asText());
    assertEquals(3, r.at("/tool_calls/0/input/n").asInt(), r.toString());
    r = resume(s, r, List.of(result(r.at("/tool_calls/0"), "meow")));
    assertToolCalls(r, "done");
    assertEquals("end", r.at("/tool_calls/0/input/why").asText(), r.toString());
    r = resume(s, r, List.of(result(r.at("/tool_calls/0"), Map.of("ok", true))));
    assertToolCalls(r, "web.search");
    Map<String, Object> failed = new LinkedHashMap<>();
    failed.put("call_id", r.at("/tool_calls/0/id").asText());
    failed.put("result", null);
    failed.put("is_error", true);
    failed.put("error_message", "rate limited");
    r = resume(s, r, List.of(failed));
    assertEquals("completed", r.get("status").asText(), r.toString());
    assertEquals(
        (noPython ? "no python\n" : "") + "got meow\n{\"ok\": true}\nfailed 1\n",
        r.get("stdout").asText(),
        r.toString());
    assertTrue(r.get("stderr").asText().contains("web.search: rate limited"), r.toString());
  }

  @Test
  void aFailedToolRaisesInTheCode() {
    JsonNode r =
        start(
            server(),
            python(
                """
                try:
                    await lookup(q="x")
                except ToolCallError as e:
                    print("caught", e)
                """,
                "lookup"));
    Map<String, Object> failed = new LinkedHashMap<>();
    failed.put("call_id", r.at("/tool_calls/0/id").asText());
    failed.put("result", null);
    failed.put("is_error", true);
    failed.put("error_message", "service down");
    r = resume(server(), r, List.of(failed));
    assertEquals("completed", r.get("status").asText(), r.toString());
    assertEquals("caught service down\n", r.get("stdout").asText());
  }

  @Test
  void anUnregisteredToolEndsTheRun() {
    JsonNode r = start(server(), python("await _kcr_ptc.call('rm_rf', {})\n", "ok"));
    assertEquals("error", r.get("status").asText(), r.toString());
    assertEquals("Sandbox requested an unregistered tool: rm_rf", r.get("error").asText());
  }

  @Test
  void anUncaughtErrorIsAnErrorWithTheTraceback() {
    JsonNode r = start(server(), python("x = await t()\n1/0\n", "t"));
    r = resume(server(), r, List.of(result(r.at("/tool_calls/0"), 1)));
    assertEquals("error", r.get("status").asText(), r.toString());
    assertEquals("Sandbox exited with code 1", r.get("error").asText());
    assertTrue(r.get("stderr").asText().contains("ZeroDivisionError"), r.toString());
  }

  @Test
  void aTokenIsSingleUseAndAStaleBatchIsAConflict() {
    TestServer s = server();
    JsonNode first = start(s, python("await t(i=1)\nawait t(i=2)\nprint('end')\n", "t"));
    // Results that are not the batch's: 409, and the token stays good.
    Map<String, Object> wrong = new LinkedHashMap<>();
    wrong.put("call_id", "call_999");
    wrong.put("result", 1);
    Errors.assertError(
        post(s, TestServer.KEY, null, continuation(first, List.of(wrong))),
        409,
        "resource_conflict");
    JsonNode second = resume(s, first, List.of(result(first.at("/tool_calls/0"), 1)));
    assertNotEquals(
        first.get("continuation_token").asText(), second.get("continuation_token").asText());
    // The first token again, even with the second batch's call ids: 409.
    Errors.assertError(
        post(
            s,
            TestServer.KEY,
            null,
            continuation(first, List.of(result(second.at("/tool_calls/0"), 2)))),
        409,
        "resource_conflict");
    JsonNode end = resume(s, second, List.of(result(second.at("/tool_calls/0"), 2)));
    assertEquals("end\n", end.get("stdout").asText(), end.toString());
    Errors.assertError(
        post(
            s,
            TestServer.KEY,
            null,
            continuation(second, List.of(result(second.at("/tool_calls/0"), 2)))),
        409,
        "resource_conflict");
  }

  @Test
  void anUnknownTokenOrAnotherKeysTokenIsNotFound() {
    TestServer s = server();
    Errors.assertError(
        post(
            s,
            TestServer.KEY,
            null,
            Map.of("continuation_token", "ab".repeat(32), "tool_results", List.of())),
        404,
        "resource_not_found");
    Errors.assertError(
        post(s, TestServer.KEY, null, Map.of("continuation_token", "x", "tool_results", List.of())),
        404,
        "resource_not_found");
    String other = AdminApiTest.newApiKey(s, "ptc other");
    JsonNode r = start(s, python("print(await t())\n", "t"));
    List<Map<String, Object>> results = List.of(result(r.at("/tool_calls/0"), "mine"));
    Errors.assertError(post(s, other, null, continuation(r, results)), 404, "resource_not_found");
    JsonNode end = resume(s, r, results);
    assertEquals("mine\n", end.get("stdout").asText(), end.toString());
  }

  /**
   * A cancel sent again and again while its run waits for a sandbox (bash has no warm one: its
   * owner makes one) ends that run only: another key's run, waiting for its tools, lives on (the
   * jail that serves every sandbox was never taken for hung and killed).
   */
  @Test
  void cancelsRepeatedWhileARunWaitsForItsSandboxEndOnlyThatRun() throws Exception {
    TestServer s = server();
    String other = AdminApiTest.newApiKey(s, "ptc cancels repeated");
    TestServer.Reply waiting = post(s, other, null, python("print(await t())\n", "t"));
    assertEquals(200, waiting.status(), waiting.body());
    assertToolCalls(waiting.json(), "t");
    Map<String, Object> bash = new HashMap<>();
    bash.put("lang", "bash");
    bash.put("code", "t\n");
    bash.put("tools", List.of(tool("t")));
    for (int i = 0; i < 10; i++) {
      String requestId = "req-cancels-" + i + "-" + System.nanoTime();
      CompletableFuture<TestServer.Reply> run =
          CompletableFuture.supplyAsync(() -> post(s, TestServer.KEY, requestId, bash));
      while (!run.isDone()) {
        cancel(s, TestServer.KEY, requestId);
      }
      TestServer.Reply r = run.join();
      assertEquals(200, r.status(), "run " + i + ": " + r.body());
      if (r.json().has("continuation_token")) {
        cancel(s, TestServer.KEY, requestId); // every cancel came before the run was known
      }
    }
    TestServer.Reply end =
        post(
            s,
            other,
            null,
            continuation(waiting.json(), List.of(result(waiting.json().at("/tool_calls/0"), 7))));
    assertEquals(200, end.status(), end.body());
    assertEquals("7\n", end.json().get("stdout").asText(), end.body());
  }

  @Test
  void cancelKillsTheRunAndItsTokenAnswersItsEndOnce() throws InterruptedException {
    TestServer s = server();
    String other = AdminApiTest.newApiKey(s, "ptc cancel");
    // A run waiting for results, cancelled by its initial request's id: its token answers the end.
    String firstId = "req-a-" + System.nanoTime();
    JsonNode r = post(s, TestServer.KEY, firstId, python("await t()\n", "t")).json();
    assertToolCalls(r, "t");
    assertEquals(404, cancel(s, other, firstId), "another key cannot cancel it");
    assertEquals(200, cancel(s, TestServer.KEY, firstId));
    assertEndedOnce(s, TestServer.KEY, r, "Execution cancelled");

    // A continuation in flight (the code sleeps), cancelled by its own request id.
    String requestId = "req-b-" + System.nanoTime();
    JsonNode running =
        start(s, python("import time\nawait t()\ntime.sleep(60)\nprint('never')\n", "t"));
    CompletableFuture<TestServer.Reply> pending =
        CompletableFuture.supplyAsync(
            () ->
                post(
                    s,
                    TestServer.KEY,
                    requestId,
                    continuation(running, List.of(result(running.at("/tool_calls/0"), 1)))));
    Eventually.await(
        "the continuation's request id cancels its run",
        Duration.ofSeconds(30),
        () -> cancel(s, TestServer.KEY, requestId) == 200);
    TestServer.Reply ended = pending.join();
    assertEquals(200, ended.status(), ended.body());
    assertEquals("error", ended.json().get("status").asText(), ended.body());
    assertEquals("Execution cancelled", ended.json().get("error").asText());
    assertTrue(!ended.json().get("stdout").asText().contains("never"));
  }

  /**
   * The sandbox dies (its PID 1 killed: an operator, the host's OOM killer) while a continuation
   * waits for the next batch: that continuation answers the run's error, and the run's tokens are
   * gone by then.
   */
  @Test
  void aSandboxThatDiesDuringAContinuationEndsTheRunWithAnError() throws InterruptedException {
    TestServer s = server();
    String marker = "ptc-started-" + System.nanoTime();
    JsonNode r =
        start(
            s,
            python(
                "import time\nawait t()\nopen('"
                    + marker
                    + "', 'w').close()\ntime.sleep(60)\nprint('never')\n",
                "t"));
    List<Map<String, Object>> results = List.of(result(r.at("/tool_calls/0"), 1));
    CompletableFuture<TestServer.Reply> pending =
        CompletableFuture.supplyAsync(
            () -> post(s, TestServer.KEY, null, continuation(r, results)));
    Eventually.await(
        "the code running after its tool call",
        Duration.ofSeconds(30),
        () -> sandboxWith(marker).isPresent());
    sandboxWith(marker).orElseThrow().destroyForcibly();
    TestServer.Reply ended = pending.join();
    assertEquals(200, ended.status(), ended.body());
    assertEquals("error", ended.json().get("status").asText(), ended.body());
    assertEquals("Execution failed or timed out", ended.json().get("error").asText());
    // As every answer of the run: LibreChat's client reads the session of an error answer too.
    assertEquals(
        r.get("session_id").asText(), ended.json().path("session_id").asText(), ended.body());
    assertTrue(!ended.json().get("stdout").asText().contains("never"), ended.body());
    Errors.assertError(
        post(s, TestServer.KEY, null, continuation(r, results)), 404, "resource_not_found");
    // The next run gets a sandbox of its own.
    JsonNode next = start(s, python("print(await t())\n", "t"));
    assertToolCalls(next, "t");
    JsonNode end = resume(s, next, List.of(result(next.at("/tool_calls/0"), "ok")));
    assertEquals("ok\n", end.get("stdout").asText(), end.toString());
  }

  /** The holder (PID 1) of the jail sandbox whose /mnt/data has {@code file}, as root sees it. */
  private static Optional<ProcessHandle> sandboxWith(String file) {
    return SandboxHolders.among(ProcessHandle.allProcesses())
        .filter(p -> Files.exists(Path.of("/proc/" + p.pid() + "/root/mnt/data/" + file)))
        .findFirst();
  }

  /**
   * A continuation that is not one is refused before its token is looked at: the token stays good.
   */
  @Test
  void aMalformedContinuationIsRefusedAndItsTokenStaysGood() {
    TestServer s = server();
    JsonNode r = start(s, python("print(await t())\n", "t"));
    String token = r.get("continuation_token").asText();
    Map<String, Object> noCallId = new HashMap<>();
    noCallId.put("result", 1);
    List<Object> tooMany = new ArrayList<>();
    for (int i = 0; i < 257; i++) {
      tooMany.add(result(r.at("/tool_calls/0"), i));
    }
    // Not a boolean: a failed tool must not pass for a successful one (nor "false" for a failure).
    Map<String, Object> isErrorText = new HashMap<>(result(r.at("/tool_calls/0"), 1));
    isErrorText.put("is_error", "yes");
    for (Map<String, ?> bad :
        List.of(
            Map.of("continuation_token", token),
            Map.of("continuation_token", token, "tool_results", "x"),
            Map.of("continuation_token", token, "tool_results", List.of(1)),
            Map.of("continuation_token", token, "tool_results", List.of(noCallId)),
            Map.of("continuation_token", token, "tool_results", tooMany),
            Map.of("continuation_token", token, "tool_results", List.of(isErrorText)),
            Map.of("continuation_token", 7, "tool_results", List.of()))) {
      Errors.assertError(post(s, TestServer.KEY, null, bad), 422, "validation");
    }
    JsonNode end = resume(s, r, List.of(result(r.at("/tool_calls/0"), "fine")));
    assertEquals("fine\n", end.get("stdout").asText(), end.toString());
  }

  @Test
  void aMalformedCancelIsRefused() {
    TestServer s = server();
    for (Object body : List.of(Map.of(), Map.of("request_id", 7), Map.of("request_id", "a b"))) {
      TestServer.Reply r =
          s.send(
              HttpRequest.newBuilder(s.base.resolve("/v1/exec/programmatic/cancel"))
                  .header("X-API-Key", TestServer.KEY)
                  .header("Content-Type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(Json.writeString(body))));
      Errors.assertError(r, 422, "validation");
    }
  }

  static int cancel(TestServer s, String key, String requestId) {
    return s.send(
            HttpRequest.newBuilder(s.base.resolve("/v1/exec/programmatic/cancel"))
                .header("X-API-Key", key)
                .header("Content-Type", "application/json")
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        Json.writeString(Map.of("request_id", requestId)))))
        .status();
  }

  @Test
  void theTimeoutLimitsEachStretchOfTheRun() {
    Map<String, Object> body =
        python("import time\nawait t()\ntime.sleep(0.5)\nawait t()\ntime.sleep(30)\n", "t");
    body.put("timeout", 1500);
    JsonNode r = start(server(), body);
    // Each stretch gets the whole timeout: 0.5 s after the first call is fine.
    r = resume(server(), r, List.of(result(r.at("/tool_calls/0"), 1)));
    assertToolCalls(r, "t");
    r = resume(server(), r, List.of(result(r.at("/tool_calls/0"), 1)));
    assertEquals("error", r.get("status").asText(), r.toString());
    assertEquals("Time limit exceeded", r.get("error").asText());
  }

  @Test
  void atMostTwentyRoundTrips() {
    JsonNode r = start(server(), python("for i in range(25):\n    await t(i=i)\n", "t"));
    for (int i = 0; i < 20; i++) {
      assertToolCalls(r, "t");
      assertEquals(i, r.at("/tool_calls/0/input/i").asInt());
      r = resume(server(), r, List.of(result(r.at("/tool_calls/0"), i)));
    }
    assertEquals("error", r.get("status").asText(), r.toString());
    assertTrue(r.get("error").asText().contains("more than 20"), r.toString());
  }

  @Test
  void aRunCountsAsOneExecutionInUsage() {
    TestServer s = server();
    JsonNode created =
        AdminApiTest.adminJson(s, "POST", "/api/v1/admin/keys", "{\"name\":\"ptc usage\"}").json();
    String key = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();
    JsonNode r = post(s, key, null, python("print(await t())\nprint(await t())\n", "t")).json();
    r = post(s, key, null, continuation(r, List.of(result(r.at("/tool_calls/0"), 1)))).json();
    r = post(s, key, null, continuation(r, List.of(result(r.at("/tool_calls/0"), 2)))).json();
    assertEquals("1\n2\n", r.get("stdout").asText(), r.toString());
    JsonNode usage = s.send(AdminApiTest.admin(s, "/api/v1/admin/keys/" + hash + "/usage")).json();
    assertEquals(1, usage.at("/totals/executions").asInt(), usage.toString());
  }

  /** The usage totals of a managed key (its key_hash). */
  static JsonNode usageTotals(TestServer s, String hash) {
    TestServer.Reply r = s.send(AdminApiTest.admin(s, "/api/v1/admin/keys/" + hash + "/usage"));
    assertEquals(200, r.status(), r.body());
    return r.json().get("totals");
  }

  /**
   * A run that ends with no request of the client to see its end (cancelled while waiting for
   * results; its sandbox dead while waiting) still counts once in usage, when it ends.
   */
  @Test
  void aRunThatEndsWhileWaitingForTheClientCountsOnce() throws InterruptedException {
    TestServer s = server();
    JsonNode created =
        AdminApiTest.adminJson(s, "POST", "/api/v1/admin/keys", "{\"name\":\"ptc ends\"}").json();
    String key = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();

    String requestId = "req-c-" + System.nanoTime();
    JsonNode cancelled = post(s, key, requestId, python("await t()\n", "t")).json();
    assertToolCalls(cancelled, "t");
    assertEquals(200, cancel(s, key, requestId));
    Eventually.await(
        "the cancelled run in usage",
        Duration.ofSeconds(30),
        () -> usageTotals(s, hash).get("executions").asInt() == 1);

    String marker = "ptc-waiting-" + System.nanoTime();
    JsonNode died =
        post(s, key, null, python("open('" + marker + "', 'w').close()\nawait t()\n", "t")).json();
    assertToolCalls(died, "t");
    sandboxWith(marker).orElseThrow().destroyForcibly();
    Eventually.await(
        "the run whose sandbox died in usage",
        Duration.ofSeconds(30),
        () -> usageTotals(s, hash).get("executions").asInt() == 2);
    assertEndedOnce(s, key, cancelled, "Execution cancelled");
    assertEndedOnce(s, key, died, "Execution failed or timed out");
    JsonNode totals = usageTotals(s, hash);
    assertEquals(2, totals.get("executions").asInt(), "each once: " + totals);
    assertEquals(1, totals.get("failure_count").asInt(), "the dead sandbox: " + totals);
    assertEquals(1, totals.get("error_count").asInt(), "the cancelled run: " + totals);
  }

  /**
   * The code ends on its own while a call it sent to the background is out: continuing that batch
   * answers with the run's end, once; the token is then used. The code waits until the call's
   * process has connected to the runner's socket (one more connected socket in the sandbox's own
   * network namespace), then gives it a moment to send: a fixed sleep lost the race under load.
   */
  @Test
  void aRunThatEndsWithABatchOutAnswersItsEndToTheContinuation() throws InterruptedException {
    TestServer s = server();
    JsonNode created =
        AdminApiTest.adminJson(s, "POST", "/api/v1/admin/keys", "{\"name\":\"ptc out\"}").json();
    String key = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();
    Map<String, Object> body =
        python(
            "before=$(grep -c ' 03 ' /proc/net/unix)\n"
                + "t &\n"
                + "until [ \"$(grep -c ' 03 ' /proc/net/unix)\" -gt \"$before\" ]; do sleep 0.01; done\n"
                + "sleep 0.5\n"
                + "echo main done\n",
            "t");
    body.put("lang", "bash");
    JsonNode first = post(s, key, null, body).json();
    assertToolCalls(first, "t");
    Eventually.await(
        "the run's end in usage",
        Duration.ofSeconds(30),
        () -> usageTotals(s, hash).get("executions").asInt() == 1);

    Map<String, Object> results =
        continuation(first, List.of(result(first.at("/tool_calls/0"), 1)));
    TestServer.Reply end = post(s, key, null, results);
    assertEquals(200, end.status(), end.body());
    assertEquals("completed", end.json().get("status").asText(), end.body());
    assertEquals("main done\n", end.json().get("stdout").asText(), end.body());
    Errors.assertError(post(s, key, null, results), 409, "resource_conflict");
  }

  /** A run that cannot start is a failed execution in usage, with the status the client got. */
  @Test
  void aRefusedRunIsAFailureWithItsStatusInUsage() {
    TestServer s = server();
    JsonNode created =
        AdminApiTest.adminJson(s, "POST", "/api/v1/admin/keys", "{\"name\":\"ptc refused\"}")
            .json();
    String key = created.get("api_key").asText();
    String hash = created.at("/record/key_hash").asText();
    Errors.assertError(
        post(s, key, null, Map.of("code", "print(1)", "tools", List.of(tool("a-b"), tool("a b")))),
        400,
        "validation");
    JsonNode failures = s.send(AdminApiTest.admin(s, "/api/v1/admin/failures?limit=200")).json();
    List<JsonNode> mine = new ArrayList<>();
    failures
        .get("failures")
        .forEach(
            f -> {
              if (f.get("api_key_hash").asText().equals(hash.substring(0, 16))) {
                mine.add(f);
              }
            });
    assertEquals(1, mine.size(), failures.toString());
    assertEquals("failed", mine.get(0).get("outcome").asText(), mine.toString());
    assertEquals(400, mine.get(0).get("status").asInt(), mine.toString());
    assertEquals("py", mine.get(0).get("language").asText(), mine.toString());
  }

  @Test
  void badRequests() {
    TestServer s = server();
    Errors.assertError(post(s, TestServer.KEY, null, Map.of("code", "")), 400, "validation");
    Errors.assertError(
        post(s, TestServer.KEY, null, Map.of("code", "print(1)", "lang", "js")), 422, "validation");
    Errors.assertError(
        post(
            s,
            TestServer.KEY,
            null,
            Map.of("code", "print(1)", "tools", List.of(tool("a-b"), tool("a b")))),
        400,
        "validation");
    // Tool-free code runs to the end at once.
    JsonNode r = start(s, python("print(await __import__('asyncio').sleep(0, 'x'))\n"));
    assertEquals("completed", r.get("status").asText(), r.toString());
    assertEquals("x\n", r.get("stdout").asText());
  }

  /**
   * A run waiting for its tools' results holds an execution slot, and costs its client nothing: a
   * LibreChat user (a JWT) has at most JWT_MAX_CONCURRENT_EXECUTIONS runs at once, so one user
   * never holds every slot of a replica. Past it: 429 at once; other users go on; an ended run
   * frees its place.
   */
  @Test
  void aLibreChatUserHoldsAtMostItsShareOfTheSlotsWithRunsWaitingForTools() {
    TestServer s = server();
    int max = s.config.limits().jwtMaxConcurrentExecutions();
    assertTrue(max < s.config.limits().maxConcurrentExecutions(), "a share, not every slot");
    TestServer.Caller user = s.asUser("acme", "ptc-hog-" + System.nanoTime());
    String code = "n = await get_number()\nprint(n)";
    List<JsonNode> paused = new ArrayList<>();
    for (int i = 0; i < max; i++) {
      TestServer.Reply r =
          user.postJson("/v1/exec/programmatic", Json.writeString(python(code, "get_number")));
      assertEquals(200, r.status(), r.body());
      assertToolCalls(r.json(), "get_number");
      paused.add(r.json());
    }
    TestServer.Reply refused =
        user.postJson("/v1/exec/programmatic", Json.writeString(python(code, "get_number")));
    JsonNode e = Errors.assertError(refused, 429, "rate_limited");
    assertEquals(
        "too_many_concurrent_executions", e.at("/details/0/code").asText(), refused.body());
    assertEquals("2", refused.header("Retry-After"), refused.body());
    assertEquals(
        429, user.exec(Map.of("lang", "py", "code", "print(1)")).status(), "/exec counts too");

    TestServer.Reply other =
        s.asUser("acme", "ptc-other-" + System.nanoTime())
            .exec(Map.of("lang", "py", "code", "print(1)"));
    assertEquals(200, other.status(), other.body());

    // An ended run gives its place back (its end is stored after the run left its place).
    TestServer.Reply end =
        user.postJson(
            "/v1/exec/programmatic",
            Json.writeString(
                continuation(
                    paused.get(0), List.of(result(paused.get(0).at("/tool_calls/0"), 7)))));
    assertEquals("completed", end.json().get("status").asText(), end.body());
    TestServer.Reply again = user.exec(Map.of("lang", "py", "code", "print(1)"));
    assertEquals(200, again.status(), again.body());
    for (JsonNode p : paused.subList(1, paused.size())) {
      TestServer.Reply done =
          user.postJson(
              "/v1/exec/programmatic",
              Json.writeString(continuation(p, List.of(result(p.at("/tool_calls/0"), 1)))));
      assertEquals(200, done.status(), done.body());
    }
  }

  /**
   * An agent turn's parallel code calls share one session: they queue on its lock, as they did
   * before the cap, and hold no place while they wait (they hold no slot). Three at once, from a
   * user whose paused runs leave it two places, all run, one after the other.
   */
  @Test
  void parallelCallsInOneSessionQueueForItAndAreNotRefused() {
    TestServer s = server();
    int max = s.config.limits().jwtMaxConcurrentExecutions();
    assertTrue(max >= 2, "room for a run and its session's queue");
    TestServer.Caller user = s.asUser("acme", "ptc-parallel-" + System.nanoTime());
    String code = "n = await get_number()\nprint(n)";
    List<JsonNode> paused = new ArrayList<>();
    try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
      for (int i = 0; i < max - 2; i++) {
        TestServer.Reply r =
            user.postJson("/v1/exec/programmatic", Json.writeString(python(code, "get_number")));
        assertEquals(200, r.status(), r.body());
        paused.add(r.json());
      }
      TestServer.Reply first = user.exec(Map.of("lang", "py", "code", "n = 0"));
      assertEquals(200, first.status(), first.body());
      String sid = first.json().get("session_id").asText();
      List<CompletableFuture<TestServer.Reply>> calls = new ArrayList<>();
      for (int i = 1; i <= 3; i++) {
        // Each runs a while, so the others arrive while it holds the session.
        String run = "import time\ntime.sleep(0.5)\nn += 1\nprint(" + i + ")";
        calls.add(
            CompletableFuture.supplyAsync(
                () -> user.exec(Map.of("lang", "py", "code", run, "session_id", sid)), clients));
      }
      for (CompletableFuture<TestServer.Reply> call : calls) {
        TestServer.Reply r = call.join();
        assertEquals(200, r.status(), r.body());
        assertEquals(sid, r.json().get("session_id").asText(), r.body());
      }
      TestServer.Reply after =
          user.exec(Map.of("lang", "py", "code", "print(n)", "session_id", sid));
      assertEquals("3\n", after.json().get("stdout").asText(), after.body());
    } finally {
      for (JsonNode p : paused) {
        user.postJson(
            "/v1/exec/programmatic",
            Json.writeString(continuation(p, List.of(result(p.at("/tool_calls/0"), 1)))));
      }
    }
  }

  /**
   * API_KEY_MAX_CONCURRENT_EXECUTIONS caps a managed key (a tenant of the admin API) the same way;
   * the env keys, the operator's own deployment, are never capped.
   */
  @Test
  void aManagedKeyIsCappedWhenSetTheEnvKeysNever() {
    TestServer own = TestServer.start(Map.of("API_KEY_MAX_CONCURRENT_EXECUTIONS", "1"), "0");
    try {
      String tenant = AdminApiTest.newApiKey(own, "tenant");
      String code = "n = await get_number()\nprint(n)";
      TestServer.Reply paused = post(own, tenant, null, python(code, "get_number"));
      assertEquals(200, paused.status(), paused.body());
      TestServer.Reply refused = own.withKey(tenant).exec(Map.of("lang", "py", "code", "print(1)"));
      JsonNode e = Errors.assertError(refused, 429, "rate_limited");
      assertEquals(
          "too_many_concurrent_executions", e.at("/details/0/code").asText(), refused.body());
      assertTrue(
          e.at("/details/0/message").asText().contains("API_KEY_MAX_CONCURRENT_EXECUTIONS"),
          refused.body());

      Map<JsonNode, String> waiting = new LinkedHashMap<>();
      waiting.put(paused.json(), tenant);
      for (int i = 0; i < 2; i++) {
        TestServer.Reply r = post(own, TestServer.KEY, null, python(code, "get_number"));
        assertEquals(200, r.status(), r.body());
        waiting.put(r.json(), TestServer.KEY);
      }
      waiting.forEach(
          (p, key) -> {
            TestServer.Reply done =
                post(own, key, null, continuation(p, List.of(result(p.at("/tool_calls/0"), 1))));
            assertEquals("completed", done.json().path("status").asText(), done.body());
          });
    } finally {
      own.app.close();
    }
  }
}
