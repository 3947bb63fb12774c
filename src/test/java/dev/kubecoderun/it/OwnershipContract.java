package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.session.Ids;
import java.nio.charset.StandardCharsets;
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
    assertNotFound(b.exec(Map.of("lang", "py", "code", "print(x)", "session_id", sid)));
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

    // Nothing of the owner's changed.
    assertEquals("n\n1\n2\n", a.get("/v1/download/" + sid + "/" + fid).body());
    assertEquals("hi", a.get("/v1/download/" + sid + "/" + out).body());
    assertEquals(2, a.get("/v1/files/" + sid).json().size());
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
