package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.http.HttpRequest;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Python variables survive between runs of a session; the /state endpoints expose them. */
@Tag("integration")
class StateTest {
  private final TestServer server = TestServer.get();

  @Test
  void variablesDataFramesAndFunctionsSurviveBetweenRuns() {
    JsonNode first =
        server
            .exec(
                "py",
                "import pandas as pd\nx = 42\ndf = pd.DataFrame({'a': [1, 2, 3]})\nsquare = lambda v: v * v\n")
            .json();
    assertTrue(first.path("has_state").asBoolean(), first.toString());
    assertEquals(64, first.path("state_hash").asText().length());
    String sid = first.path("session_id").asText();

    JsonNode second =
        server
            .exec(
                Map.of(
                    "lang",
                    "py",
                    "code",
                    "print(x, int(df['a'].sum()), square(7))",
                    "session_id",
                    sid))
            .json();
    assertEquals("42 6 49\n", second.path("stdout").asText(), second.toString());
    assertEquals(sid, second.path("session_id").asText());
  }

  /**
   * A state of 16 MB (a loaded CSV, say) is within STATE_MAX_SIZE_MB: its run answers and the next
   * run has it. Its base64 in the runner's answer is longer than a JSON parser's default string
   * cap.
   */
  @Test
  void aStateOfSixteenMegabytesIsKept() {
    JsonNode first =
        server.exec("py", "import os\nblob = os.urandom(16_000_000)\nprint('made')").json();
    assertEquals("made\n", first.path("stdout").asText(), first.toString());
    assertTrue(first.path("has_state").asBoolean(), first.toString());
    String sid = first.path("session_id").asText();

    JsonNode second =
        server.exec(Map.of("lang", "py", "code", "print(len(blob))", "session_id", sid)).json();
    assertEquals("16000000\n", second.path("stdout").asText(), second.toString());
  }

  /** A variable that cannot be saved is named in the run's stderr; the others are kept. */
  @Test
  void aVariableThatCannotBeKeptIsNamed() {
    JsonNode first = server.exec("py", "fh = open('notes.txt', 'w')\nx = 7").json();
    assertEquals("ok", first.path("status").asText(), first.toString());
    String stderr = first.path("stderr").asText();
    assertTrue(
        stderr.contains("[kubecoderun] not kept for the next run: Cannot serialize 'fh'"), stderr);
    String sid = first.path("session_id").asText();

    JsonNode second =
        server
            .exec(Map.of("lang", "py", "code", "print(x, 'fh' in dir())", "session_id", sid))
            .json();
    assertEquals("7 False\n", second.path("stdout").asText(), second.toString());
  }

  /** A failed run keeps the state it started from, and its answer reports that state. */
  @Test
  void aFailedRunKeepsAndReportsThePreviousState() {
    JsonNode first = server.exec("py", "x = 1").json();
    String sid = first.path("session_id").asText();
    String hash = first.path("state_hash").asText();
    assertEquals(64, hash.length(), first.toString());

    JsonNode failed =
        server
            .exec(Map.of("lang", "py", "code", "x = 2\nraise SystemExit(3)", "session_id", sid))
            .json();
    assertEquals("error", failed.path("status").asText(), failed.toString());
    assertTrue(failed.path("has_state").asBoolean(), failed.toString());
    assertEquals(hash, failed.path("state_hash").asText(), failed.toString());
    assertEquals(
        first.path("state_size").asInt(), failed.path("state_size").asInt(), failed.toString());

    JsonNode after =
        server.exec(Map.of("lang", "py", "code", "print(x)", "session_id", sid)).json();
    assertEquals("1\n", after.path("stdout").asText(), after.toString());
  }

  @Test
  void stateEndpointsDownloadWithEtagUploadInfoAndDelete() {
    String sid = server.exec("py", "y = 'kept'").json().path("session_id").asText();

    TestServer.Reply state = server.get("/state/" + sid);
    assertEquals(200, state.status());
    byte[] bytes = state.raw().body();
    assertEquals(2, bytes[0], "version byte 0x02: LZ4 frame of a cloudpickle dump");
    String etag = state.header("ETag");
    // RFC 9110 13.1.2: a list, a weak tag (compared weakly), or "*" (a state exists) all match.
    for (String ifNoneMatch :
        List.of(etag, "W/" + etag, "\"0000\", " + etag, "\"0000\",W/" + etag, "*")) {
      assertEquals(
          304,
          server
              .send(server.request("/state/" + sid).header("If-None-Match", ifNoneMatch).GET())
              .status(),
          ifNoneMatch);
    }
    assertEquals(
        200,
        server
            .send(server.request("/state/" + sid).header("If-None-Match", "\"0000\"").GET())
            .status(),
        "another tag");

    JsonNode info = server.get("/state/" + sid + "/info").json();
    assertTrue(info.path("exists").asBoolean());
    assertEquals(bytes.length, info.path("size_bytes").asInt());
    assertEquals("local", info.path("source").asText());

    // Upload the same state into a fresh session: the next run there sees the variable.
    String other = "StateUploadTarget0001";
    TestServer.Reply up =
        server.send(
            server
                .request("/state/" + other)
                .header("Content-Type", "application/octet-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(bytes)));
    assertEquals(201, up.status(), up.body());
    JsonNode run =
        server.exec(Map.of("lang", "py", "code", "print(y)", "session_id", other)).json();
    assertEquals("kept\n", run.path("stdout").asText(), run.toString());

    assertEquals(204, server.delete("/state/" + other).status());
    Errors.assertError(server.get("/state/" + other), 404, "resource_not_found");
    assertFalse(server.get("/state/" + other + "/info").json().path("exists").asBoolean());
  }

  @Test
  void invalidStateUploadsAreRefused() {
    TestServer.Reply bad =
        server.send(
            server
                .request("/state/BadStateSession000001")
                .POST(HttpRequest.BodyPublishers.ofByteArray(new byte[] {9, 1, 2})));
    Errors.assertError(bad, 400, "validation");
  }
}
