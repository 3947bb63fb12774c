package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.session.Ids;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Every session, file and state has an owner, and to any other principal it does not exist: the
 * same answers as for an id nobody uses, on every route. Run on both stores ({@link
 * OwnershipTest}).
 */
abstract class OwnershipContract {
  private static final byte[] CSV = "n\n1\n2\n".getBytes(StandardCharsets.UTF_8);

  abstract TestServer server();

  private static void assertNotFound(TestServer.Reply r) {
    Errors.assertError(r, 404, "resource_not_found");
  }

  @Test
  void anotherKeysSessionFilesAndStateDoNotExistForIt() {
    TestServer.Caller a = server().withKey(TestServer.KEY);
    TestServer.Caller b = server().withKey(TestServer.KEY2);
    JsonNode up = a.upload("data.csv", CSV, Map.of()).json();
    String sid = up.path("session_id").asText();
    String fid = up.path("files").path(0).path("fileId").asText();
    JsonNode run =
        a.exec(
                Map.of(
                    "lang",
                    "py",
                    "code",
                    "x = 41\nopen('out.txt', 'w').write('hi')",
                    "session_id",
                    sid))
            .json();
    assertEquals(sid, run.path("session_id").asText(), run.toString());
    assertTrue(run.path("has_state").asBoolean(), run.toString());
    String out = run.path("files").path(0).path("id").asText();

    assertEquals(0, b.get("/v1/files/" + sid).json().size(), "lists as an unknown session");
    assertEquals(0, b.get("/v1/files/" + sid + "?detail=summary").json().size());
    assertNotFound(b.get("/v1/download/" + sid + "/" + fid));
    assertNotFound(b.get("/v1/download/" + sid + "/" + out));
    assertNotFound(b.get("/v1/sessions/" + sid + "/objects/" + fid));
    assertNotFound(b.delete("/v1/files/" + sid + "/" + fid));
    assertNotFound(b.get("/v1/state/" + sid));
    JsonNode info = b.get("/v1/state/" + sid + "/info").json();
    assertFalse(info.path("exists").asBoolean(), info.toString());
    assertEquals(204, b.delete("/v1/state/" + sid).status());
    assertNotFound(b.post("/v1/state/" + sid, new byte[] {2, 1, 2, 3}));
    // Named by another, the session is not used, nor told apart from any session of theirs: the
    // run goes on in a session of the caller's own (as with no session_id), without the owner's
    // Python state or files, and writes nothing into the owner's session.
    TestServer.Reply named =
        b.exec(
            Map.of(
                "lang",
                "py",
                "code",
                "import os\nopen('b.txt', 'w').write('b')\n"
                    + "print(os.path.exists('data.csv'), os.path.exists('out.txt'))\nprint(x)",
                "session_id",
                sid));
    assertEquals(200, named.status(), named.body());
    JsonNode own = named.json();
    assertEquals("False False\n", own.path("stdout").asText(), own.toString());
    assertTrue(own.path("stderr").asText().contains("NameError"), own.toString());
    String bsid = own.path("session_id").asText();
    assertNotEquals(sid, bsid, "a session of the caller's own");
    assertTrue(Ids.isValid(bsid), bsid);
    assertEquals(1, b.get("/v1/files/" + bsid).json().size(), "b.txt, in b's session");
    assertEquals(0, a.get("/v1/files/" + bsid).json().size(), "which is b's alone");
    assertNotFound(b.upload("more.csv", CSV, Map.of("session_id", sid)));
    // A reference to another's file is a file that is not there: the run goes on without it,
    // in a session of the caller's own.
    JsonNode stolen =
        b.exec(
                Map.of(
                    "lang",
                    "py",
                    "code",
                    "import os\nprint(os.path.exists('data.csv'))",
                    "files",
                    List.of(Map.of("id", fid, "session_id", sid, "name", "data.csv"))))
            .json();
    assertEquals("False\n", stolen.path("stdout").asText(), stolen.toString());
    assertNotEquals(sid, stolen.path("session_id").asText());
    // So is an older client's reference, found by name (its id is ""): only among the caller's.
    JsonNode byName =
        b.exec(
                Map.of(
                    "lang",
                    "py",
                    "code",
                    "import os\nprint(os.path.exists('data.csv'))",
                    "files",
                    List.of(Map.of("id", "", "session_id", sid, "name", "data.csv"))))
            .json();
    assertEquals("False\n", byName.path("stdout").asText(), byName.toString());

    // Nothing of the owner's changed.
    assertEquals("n\n1\n2\n", a.get("/v1/download/" + sid + "/" + fid).body());
    assertEquals("hi", a.get("/v1/download/" + sid + "/" + out).body());
    assertEquals(2, a.get("/v1/files/" + sid).json().size(), "b's run wrote nothing here");
    assertEquals(200, a.get("/v1/state/" + sid).status());
    JsonNode again = a.exec(Map.of("lang", "py", "code", "print(x + 1)", "session_id", sid)).json();
    assertEquals("42\n", again.path("stdout").asText(), again.toString());
  }

  @Test
  void aLibreChatUserReadsTheirOwnFilesAndTheirTenantsAgentFilesOnly() {
    String tenant = "acme-" + Ids.next();
    TestServer.Caller u1 = server().asUser(tenant, "u1");
    TestServer.Caller u2 = server().asUser(tenant, "u2");
    TestServer.Caller stranger = server().asUser("globex-" + Ids.next(), "u1");
    JsonNode agent =
        u1.upload(
                "agent.txt",
                "agent-data".getBytes(StandardCharsets.UTF_8),
                Map.of("kind", "agent", "id", "agent_1"))
            .json();
    JsonNode mine =
        u1.upload(
                "mine.txt",
                "private".getBytes(StandardCharsets.UTF_8),
                Map.of("kind", "user", "id", "u1"))
            .json();
    String asid = agent.path("storage_session_id").asText();
    String afid = agent.path("files").path(0).path("fileId").asText();
    String msid = mine.path("storage_session_id").asText();
    String mfid = mine.path("files").path(0).path("fileId").asText();

    assertEquals("agent-data", u2.get("/v1/download/" + asid + "/" + afid).body());
    assertEquals(
        200,
        u2.get("/v1/sessions/" + asid + "/objects/" + afid + "?kind=agent&id=agent_1").status());
    assertEquals(1, u2.get("/v1/files/" + asid).json().size(), "the shared file only");
    assertNotFound(u2.get("/v1/download/" + msid + "/" + mfid));
    assertNotFound(u2.delete("/v1/files/" + asid + "/" + afid));
    assertEquals("private", u1.get("/v1/download/" + msid + "/" + mfid).body());
    assertEquals("agent-data", u1.get("/v1/download/" + asid + "/" + afid).body());

    JsonNode run =
        u2.exec(
                Map.of(
                    "lang",
                    "bash",
                    "code",
                    "cat agent.txt; [ -e mine.txt ] || echo ' no mine'",
                    "files",
                    List.of(
                        Map.of(
                            "id",
                            afid,
                            "storage_session_id",
                            asid,
                            "name",
                            "agent.txt",
                            "kind",
                            "agent"),
                        Map.of("id", mfid, "storage_session_id", msid, "name", "mine.txt"))))
            .json();
    assertEquals("agent-data no mine\n", run.path("stdout").asText(), run.toString());
    assertNotEquals(asid, run.path("session_id").asText(), "u2 runs in a session of their own");

    // Another tenant, even with the same user id, and an API key, see nothing of the tenant.
    assertNotFound(stranger.get("/v1/download/" + asid + "/" + afid));
    assertNotFound(stranger.get("/v1/download/" + msid + "/" + mfid));
    assertNotFound(server().get("/v1/download/" + asid + "/" + afid));
    assertEquals(200, u1.delete("/v1/files/" + asid + "/" + afid).status(), "the owner deletes");
  }

  /**
   * LibreChat's skills: one user of a tenant uploads a skill's files, and when another invokes the
   * skill LibreChat reuses the cached references and seeds the run with the uploader's storage
   * session as its {@code session_id}. The run goes on in a session of the invoker's own, with the
   * skill's files.
   */
  @Test
  void aLibreChatUserRunsASkillAnotherUserOfTheTenantUploaded() {
    String tenant = "acme-" + Ids.next();
    TestServer.Caller u1 = server().asUser(tenant, "u1");
    TestServer.Caller u2 = server().asUser(tenant, "u2");
    String skill = "skill_" + Ids.next().replace("-", "_").substring(0, 12);
    TestServer.Reply uploaded =
        server()
            .send(
                server()
                    .multipart(
                        u1.request("/v1/upload/batch"),
                        "SKILL.md",
                        "skill-body".getBytes(StandardCharsets.UTF_8),
                        Map.of("kind", "skill", "id", skill, "version", "1")));
    assertEquals(200, uploaded.status(), uploaded.body());
    JsonNode up = uploaded.json();
    assertEquals("success", up.path("message").asText(), up.toString());
    String ssid = up.path("storage_session_id").asText();
    String fid = up.path("files").path(0).path("fileId").asText();
    Map<String, Object> ref = new LinkedHashMap<>();
    ref.put("id", fid);
    ref.put("resource_id", skill);
    ref.put("name", "SKILL.md");
    ref.put("storage_session_id", ssid);
    ref.put("kind", "skill");
    ref.put("version", 1);
    // The uploader's own run of its skill, for contrast: its session.
    JsonNode mine =
        u1.exec(
                Map.of(
                    "lang",
                    "bash",
                    "code",
                    "cat SKILL.md",
                    "session_id",
                    ssid,
                    "files",
                    List.of(ref)))
            .json();
    assertEquals(ssid, mine.path("session_id").asText(), mine.toString());

    // read_file / bash_tool: /exec.
    TestServer.Reply exec =
        u2.exec(
            Map.of(
                "lang", "bash", "code", "cat SKILL.md", "session_id", ssid, "files", List.of(ref)));
    assertEquals(200, exec.status(), exec.body());
    JsonNode run = exec.json();
    assertEquals("skill-body\n", run.path("stdout").asText(), run.toString());
    String own = run.path("session_id").asText();
    assertNotEquals(ssid, own, "u2 runs in a session of their own");

    // run_tools_with_code: /exec/programmatic, through a tool call and back.
    Map<String, Object> start = new LinkedHashMap<>();
    start.put("code", "n = await get_number(x=2)\nprint(open('SKILL.md').read(), n)");
    start.put(
        "tools",
        List.of(
            Map.of(
                "name",
                "get_number",
                "description",
                "a number",
                "parameters",
                Map.of("type", "object"))));
    start.put("session_id", ssid);
    start.put("timeout", 15000);
    start.put("files", List.of(ref));
    TestServer.Reply first = u2.postJson("/v1/exec/programmatic", Json.writeString(start));
    assertEquals(200, first.status(), first.body());
    JsonNode calls = first.json();
    assertEquals("tool_call_required", calls.path("status").asText(), calls.toString());
    assertNotEquals(ssid, calls.path("session_id").asText(), calls.toString());
    TestServer.Reply done =
        u2.postJson(
            "/v1/exec/programmatic",
            Json.writeString(
                Map.of(
                    "continuation_token",
                    calls.path("continuation_token").asText(),
                    "tool_results",
                    List.of(
                        Map.of(
                            "call_id",
                            calls.path("tool_calls").path(0).path("id").asText(),
                            "result",
                            42,
                            "is_error",
                            false)))));
    assertEquals(200, done.status(), done.body());
    JsonNode end = done.json();
    assertEquals("completed", end.path("status").asText(), end.toString());
    assertEquals("skill-body 42\n", end.path("stdout").asText(), end.toString());
    assertEquals(calls.path("session_id").asText(), end.path("session_id").asText());

    // u1's session holds u1's run alone; u2's sessions are u2's.
    assertEquals(1, u1.get("/v1/files/" + ssid).json().size(), u1.get("/v1/files/" + ssid).body());
    assertEquals(1, u2.get("/v1/files/" + ssid).json().size(), "the shared skill file only");
    assertEquals(0, u1.get("/v1/files/" + own).json().size());
  }

  @Test
  void sessionsFoundByEntityArePerPrincipal() {
    String entity = "asst_" + Ids.next().replace("-", "_").substring(0, 12);
    TestServer.Caller a = server().withKey(TestServer.KEY);
    TestServer.Caller b = server().withKey(TestServer.KEY2);
    TestServer.Caller u = server().asUser("acme", "u-" + Ids.next());
    Map<String, Object> run = Map.of("lang", "bash", "code", "echo ok", "entity_id", entity);
    String sa = a.exec(run).json().path("session_id").asText();
    String sb = b.exec(run).json().path("session_id").asText();
    String su =
        u.upload("e.txt", CSV, Map.of("entity_id", entity)).json().path("session_id").asText();
    assertNotEquals(sa, sb);
    assertNotEquals(sa, su);
    assertNotEquals(sb, su);
    assertEquals(sa, a.exec(run).json().path("session_id").asText(), "the entity's session, again");
    assertEquals(
        su, u.upload("f.txt", CSV, Map.of("entity_id", entity)).json().path("session_id").asText());
  }
}
