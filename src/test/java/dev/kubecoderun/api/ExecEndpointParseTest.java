package dev.kubecoderun.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.execution.ExecCommand;
import dev.kubecoderun.language.Language;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ExecEndpointParseTest {
  private static final String SID = "AbCdEfGhIjKlMnOpQrSt1";
  private static final String FID = "ZyXwVuTsRqPoNmLkJiHg2";

  private static ExecCommand parse(JsonNode body) {
    return ExecEndpoint.parse(Principal.apiKey("a-test-key-0123456789"), body, 3);
  }

  private static JsonNode json(String s) throws IOException {
    return Json.tree(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void acceptsBothLibreChatFileReferenceGenerationsAndIgnoresUnknownFields() throws IOException {
    ExecCommand c =
        parse(
            json(
                "{\"lang\":\"Python\",\"code\":\"print(1)\",\"codeSessionKey\":\"x\",\"timeout\":5,"
                    + "\"files\":[{\"id\":\""
                    + FID
                    + "\",\"session_id\":\""
                    + SID
                    + "\",\"name\":\"a.csv\"},"
                    + "{\"id\":\""
                    + FID
                    + "\",\"storage_session_id\":\""
                    + SID
                    + "\",\"name\":\"d/b.csv\",\"kind\":\"user\"}]}"));
    assertEquals(Language.PY, c.language());
    assertEquals(
        List.of(
            new ExecCommand.FileRef(FID, SID, "a.csv"),
            new ExecCommand.FileRef(FID, SID, "d/b.csv")),
        c.files());
    assertNull(c.args());
  }

  @Test
  void anOlderClientsReferenceWithoutAValidIdIsFoundByItsNameButNeedsAValidSession()
      throws IOException {
    ExecCommand c =
        parse(
            json(
                "{\"lang\":\"py\",\"code\":\"x\",\"files\":["
                    + "{\"session_id\":\""
                    + SID
                    + "\",\"id\":\"\",\"name\":\"my_data.csv\"},"
                    + "{\"session_id\":\""
                    + SID
                    + "\",\"id\":\"My Skill\",\"name\":\"skills/My Skill/SKILL.md\"}]}"));
    assertEquals(
        List.of(
            new ExecCommand.FileRef(null, SID, "my_data.csv"),
            new ExecCommand.FileRef(null, SID, "skills/My Skill/SKILL.md")),
        c.files());
    ApiError noName =
        assertThrows(
            ApiError.class,
            () ->
                parse(
                    json(
                        "{\"lang\":\"py\",\"code\":\"x\",\"files\":[{\"session_id\":\""
                            + SID
                            + "\",\"id\":\"\"}]}")));
    assertEquals("invalid_id", noName.details().get(0).code());
    ApiError badSession =
        assertThrows(
            ApiError.class,
            () ->
                parse(
                    json(
                        "{\"lang\":\"py\",\"code\":\"x\",\"files\":[{\"session_id\":\"a b\","
                            + "\"id\":\"\",\"name\":\"my_data.csv\"}]}")));
    assertEquals("invalid_id", badSession.details().get(0).code());
  }

  @Test
  void passesStringArgsAndIgnoresOtherShapes() throws IOException {
    assertEquals(
        List.of("a", "b"),
        parse(json("{\"lang\":\"py\",\"code\":\"x\",\"args\":[\"a\",\"b\"]}")).args());
    assertNull(parse(json("{\"lang\":\"py\",\"code\":\"x\",\"args\":{\"a\":1}}")).args());
  }

  @Test
  void missingOrMistypedFieldsAre422WithTheField() throws IOException {
    ApiError missing = assertThrows(ApiError.class, () -> parse(json("{\"code\":\"x\"}")));
    assertEquals(422, missing.status());
    assertEquals("lang", missing.details().get(0).field());
    ApiError typed =
        assertThrows(ApiError.class, () -> parse(json("{\"lang\":\"py\",\"code\":5}")));
    assertEquals(422, typed.status());
    assertEquals("code", typed.details().get(0).field());
    ApiError noSession =
        assertThrows(
            ApiError.class,
            () ->
                parse(
                    json("{\"lang\":\"py\",\"code\":\"x\",\"files\":[{\"id\":\"" + FID + "\"}]}")));
    assertEquals("files[0].session_id", noSession.details().get(0).field());
  }

  @Test
  void unknownLanguageAndBlankCodeAre400() throws IOException {
    ApiError lang =
        assertThrows(ApiError.class, () -> parse(json("{\"lang\":\"cobol\",\"code\":\"x\"}")));
    assertEquals(400, lang.status());
    assertEquals("unsupported_language", lang.details().get(0).code());
    ApiError blank =
        assertThrows(ApiError.class, () -> parse(json("{\"lang\":\"py\",\"code\":\"  \"}")));
    assertEquals(400, blank.status());
    assertEquals("empty_code", blank.details().get(0).code());
  }

  private static String ref(String id, String name) {
    return "{\"id\":\"" + id + "\",\"session_id\":\"" + SID + "\",\"name\":\"" + name + "\"}";
  }

  private static ExecCommand withFiles(String... refs) throws IOException {
    return parse(
        json("{\"lang\":\"py\",\"code\":\"x\",\"files\":[" + String.join(",", refs) + "]}"));
  }

  @Test
  void moreFilesThanMaxExecFilesAre400() throws IOException {
    assertEquals(
        3, withFiles(ref("a", "a.csv"), ref("b", "b.csv"), ref("c", "c.csv")).files().size());
    ApiError e =
        assertThrows(
            ApiError.class,
            () ->
                withFiles(
                    ref("a", "a.csv"), ref("b", "b.csv"), ref("c", "c.csv"), ref("d", "d.csv")));
    assertEquals(400, e.status());
    assertEquals("too_many_files", e.details().get(0).code());
  }

  /**
   * LibreChat sends every file it tracks on every call (an older client adds a session's listing to
   * those): references to one place count once, and the later one is placed.
   */
  @Test
  void referencesToOnePlaceCountOnceAndTheLaterWins() throws IOException {
    String unnamed = "{\"id\":\"" + FID + "\",\"session_id\":\"" + SID + "\"}";
    ExecCommand c =
        withFiles(
            ref("a1", "a.csv"),
            unnamed,
            ref("a2", "a.csv"),
            unnamed,
            ref("b1", "b.csv"),
            ref("a3", "a.csv"));
    assertEquals(
        List.of(
            new ExecCommand.FileRef(FID, SID, null),
            new ExecCommand.FileRef("b1", SID, "b.csv"),
            new ExecCommand.FileRef("a3", SID, "a.csv")),
        c.files());
  }

  @Test
  void traversalInAFileNameIs400() throws IOException {
    ApiError e =
        assertThrows(
            ApiError.class,
            () ->
                parse(
                    json(
                        "{\"lang\":\"py\",\"code\":\"x\",\"files\":[{\"id\":\""
                            + FID
                            + "\",\"session_id\":\""
                            + SID
                            + "\",\"name\":\"../../etc/passwd\"}]}")));
    assertEquals(400, e.status());
  }
}
