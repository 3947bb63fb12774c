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

  @Test
  void moreFileReferencesThanMaxExecFilesAre400() throws IOException {
    String ref = "{\"id\":\"" + FID + "\",\"session_id\":\"" + SID + "\"}";
    String three = ref + "," + ref + "," + ref;
    assertEquals(
        3,
        parse(json("{\"lang\":\"py\",\"code\":\"x\",\"files\":[" + three + "]}")).files().size());
    ApiError e =
        assertThrows(
            ApiError.class,
            () ->
                parse(
                    json(
                        "{\"lang\":\"py\",\"code\":\"x\",\"files\":[" + three + "," + ref + "]}")));
    assertEquals(400, e.status());
    assertEquals("too_many_files", e.details().get(0).code());
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
