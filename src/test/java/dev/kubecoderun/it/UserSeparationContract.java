package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.session.Ids;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * With an API key every LibreChat user is one principal, told apart by {@code user_id} (and the
 * {@code User-Id} header on uploads). LibreChat sends an agent's files, uploaded by its author, in
 * every user's run: a session (Python state, outputs, run queue) is adopted through a referenced
 * file or an entity only when it was made for the request's user id. Without user ids nothing
 * changes. Run on both stores ({@link UserSeparationTest}).
 */
abstract class UserSeparationContract {
  private static final byte[] AGENT_FILE = "agent-data".getBytes(StandardCharsets.UTF_8);

  abstract TestServer server();

  private TestServer.Caller key() {
    return server().withKey(TestServer.KEY);
  }

  /** LibreChat's upload of an agent's file by its author: kind/id fields, the User-Id header. */
  private JsonNode uploadAgentFile(String agent, String author) {
    TestServer.Reply r =
        server()
            .send(
                server()
                    .multipart(
                        key().request("/v1/upload").header("User-Id", author),
                        "agent.txt",
                        AGENT_FILE,
                        Map.of("kind", "agent", "id", agent)));
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  private static Map<String, Object> ref(String sid, String fid, String name, String kind) {
    Map<String, Object> ref = new LinkedHashMap<>();
    ref.put("id", fid);
    ref.put("name", name);
    ref.put("storage_session_id", sid);
    ref.put("kind", kind);
    return ref;
  }

  /** LibreChat 3.9.2's execute_code body: user_id and every tracked file, no session_id. */
  private JsonNode run(String user, String code, List<Map<String, Object>> files) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("lang", "py");
    body.put("code", code);
    if (user != null) {
      body.put("user_id", user);
    }
    body.put("files", files);
    TestServer.Reply r = key().exec(body);
    assertEquals(200, r.status(), r.body());
    return r.json();
  }

  private static String agentName() {
    return "agent_" + Ids.next().replace("-", "_").substring(0, 12);
  }

  @Test
  void aUserRunningAnotherUsersAgentFileNeitherSeesNorTouchesTheAuthorsSession() {
    String alice = "alice-" + Ids.next();
    String bob = "bob-" + Ids.next();
    JsonNode up = uploadAgentFile(agentName(), alice);
    String asid = up.path("storage_session_id").asText();
    Map<String, Object> agentFile =
        ref(asid, up.path("files").path(0).path("fileId").asText(), "agent.txt", "agent");

    JsonNode author = run(alice, "secret = 'alice-42'", List.of(agentFile));
    assertEquals(asid, author.path("session_id").asText(), "the author's upload session is hers");

    JsonNode other =
        run(
            bob,
            "print(globals().get('secret'))\nprint(open('agent.txt').read())\n"
                + "mine = 'bob-7'\nopen('bob.txt', 'w').write('b')",
            List.of(agentFile));
    assertEquals("None\nagent-data\n", other.path("stdout").asText(), other.toString());
    String bsid = other.path("session_id").asText();
    assertNotEquals(asid, bsid, "bob runs in a session of his own");
    Map<String, Object> bobsFile =
        ref(bsid, other.path("files").path(0).path("id").asText(), "bob.txt", "user");

    // LibreChat sends the agent's file first, then bob's output: bob's own session is adopted.
    JsonNode again = run(bob, "print(mine, globals().get('secret'))", List.of(agentFile, bobsFile));
    assertEquals(bsid, again.path("session_id").asText(), again.toString());
    assertEquals("bob-7 None\n", again.path("stdout").asText(), again.toString());

    // The author's session kept her state and holds none of bob's files.
    JsonNode hers = run(alice, "print(secret, globals().get('mine'))", List.of(agentFile));
    assertEquals(asid, hers.path("session_id").asText());
    assertEquals("alice-42 None\n", hers.path("stdout").asText(), hers.toString());
    assertEquals(1, key().get("/v1/files/" + asid).json().size(), "agent.txt alone");
  }

  /**
   * LibreChat 3.1.x injects a session_id: for a user's first run, the storage session of the
   * agent's files. Named by another user id, it is not used.
   */
  @Test
  void aSessionNamedByAnotherUserIdIsNotUsedForTheirRun() {
    String alice = "alice-" + Ids.next();
    String bob = "bob-" + Ids.next();
    JsonNode up = uploadAgentFile(agentName(), alice);
    String asid = up.path("storage_session_id").asText();
    Map<String, Object> agentFile =
        ref(asid, up.path("files").path(0).path("fileId").asText(), "agent.txt", "agent");
    run(alice, "secret = 'alice-42'", List.of(agentFile));

    Map<String, Object> body = new LinkedHashMap<>();
    body.put("lang", "py");
    body.put("code", "print(globals().get('secret'), open('agent.txt').read())");
    body.put("user_id", bob);
    body.put("session_id", asid);
    body.put("files", List.of(agentFile));
    JsonNode named = key().exec(body).json();
    assertEquals("None agent-data\n", named.path("stdout").asText(), named.toString());
    String bsid = named.path("session_id").asText();
    assertNotEquals(asid, bsid);
    body.put("session_id", bsid);
    body.put("code", "print('again')");
    assertEquals(bsid, key().exec(body).json().path("session_id").asText(), "his own is his");

    // run_tools_with_code resolves its session the same way.
    Map<String, Object> start = new LinkedHashMap<>();
    start.put("code", "print(globals().get('secret'), open('agent.txt').read())");
    start.put("tools", List.of());
    start.put("user_id", bob);
    start.put("session_id", asid);
    start.put("files", List.of(agentFile));
    TestServer.Reply ptc = key().postJson("/v1/exec/programmatic", Json.writeString(start));
    assertEquals(200, ptc.status(), ptc.body());
    JsonNode done = ptc.json();
    assertEquals("completed", done.path("status").asText(), done.toString());
    assertEquals("None agent-data\n", done.path("stdout").asText(), done.toString());
    assertNotEquals(asid, done.path("session_id").asText(), done.toString());
    start.put("session_id", bsid);
    JsonNode his = key().postJson("/v1/exec/programmatic", Json.writeString(start)).json();
    assertEquals(bsid, his.path("session_id").asText(), "his user_id read: his own session");
  }

  @Test
  void anEntitysSessionsAreKeptPerUser() {
    String entity = "asst_" + Ids.next().replace("-", "_").substring(0, 12);
    String alice = "alice-" + Ids.next();
    String bob = "bob-" + Ids.next();
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("lang", "py");
    body.put("entity_id", entity);
    body.put("user_id", alice);
    body.put("code", "secret = 'alice-42'");
    String sa = key().exec(body).json().path("session_id").asText();

    body.put("user_id", bob);
    body.put("code", "print(globals().get('secret'))\nmine = 'bob-7'");
    JsonNode other = key().exec(body).json();
    assertEquals("None\n", other.path("stdout").asText(), other.toString());
    String sb = other.path("session_id").asText();
    assertNotEquals(sa, sb);

    body.put("code", "print(mine)");
    JsonNode bobAgain = key().exec(body).json();
    assertEquals(sb, bobAgain.path("session_id").asText(), "the entity's session of bob's");
    assertEquals("bob-7\n", bobAgain.path("stdout").asText(), bobAgain.toString());
    body.put("user_id", alice);
    body.put("code", "print(secret)");
    JsonNode hers = key().exec(body).json();
    assertEquals(sa, hers.path("session_id").asText());
    assertEquals("alice-42\n", hers.path("stdout").asText(), hers.toString());
    body.remove("user_id");
    assertNotEquals(sa, key().exec(body).json().path("session_id").asText(), "no user: not hers");
  }

  /**
   * A LibreChat JWT is one user already: its runs keep their session whatever user_id they send.
   * LibreChat's programmatic calls send none, naming the session of the user's last run (made with
   * one); they get that session, and their files land in it.
   */
  @Test
  void aJwtUsersProgrammaticRunWithoutUserIdKeepsTheSessionOfTheirLastRun() {
    String sub = "u-" + Ids.next();
    TestServer.Caller user = server().asUser("acme-" + Ids.next(), sub);
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("lang", "py");
    body.put("code", "secret = 'mine-42'");
    body.put("user_id", sub);
    TestServer.Reply first = user.postJson("/v1/exec", Json.writeString(body));
    assertEquals(200, first.status(), first.body());
    String sid = first.json().path("session_id").asText();

    Map<String, Object> start = new LinkedHashMap<>();
    start.put("code", "open('out.txt', 'w').write('x')");
    start.put("tools", List.of());
    start.put("session_id", sid);
    TestServer.Reply ptc = user.postJson("/v1/exec/programmatic", Json.writeString(start));
    assertEquals(200, ptc.status(), ptc.body());
    assertEquals(sid, ptc.json().path("session_id").asText(), ptc.body());
    assertEquals("completed", ptc.json().path("status").asText(), ptc.body());
    assertEquals("out.txt", user.get("/v1/files/" + sid).json().path(0).path("name").asText());
  }

  /**
   * LibreChat's programmatic calls send no user_id; with an API key they name the session of the
   * user's last run, made with one: they keep it, and their files land in it.
   */
  @Test
  void aProgrammaticRunWithoutUserIdKeepsTheSessionItNames() {
    String bob = "bob-" + Ids.next();
    JsonNode last = run(bob, "mine = 'bob-7'", List.of());
    String sid = last.path("session_id").asText();
    Map<String, Object> start = new LinkedHashMap<>();
    start.put("code", "open('out.txt', 'w').write('x')");
    start.put("tools", List.of());
    start.put("session_id", sid);
    TestServer.Reply ptc = key().postJson("/v1/exec/programmatic", Json.writeString(start));
    assertEquals(200, ptc.status(), ptc.body());
    assertEquals(sid, ptc.json().path("session_id").asText(), ptc.body());
    assertEquals("out.txt", key().get("/v1/files/" + sid).json().path(0).path("name").asText());
  }

  /** No user id on the upload nor on the runs: a referenced file's and the entity's session. */
  @Test
  void withoutUserIdsSessionsAreSharedAsBefore() {
    TestServer.Reply r =
        key().upload("data.txt", AGENT_FILE, Map.of("kind", "agent", "id", agentName()));
    assertEquals(200, r.status(), r.body());
    String sid = r.json().path("storage_session_id").asText();
    Map<String, Object> file =
        ref(sid, r.json().path("files").path(0).path("fileId").asText(), "data.txt", "agent");
    JsonNode first = run(null, "x = 1", List.of(file));
    assertEquals(sid, first.path("session_id").asText(), first.toString());
    JsonNode second = run(null, "print(x)", List.of(file));
    assertEquals(sid, second.path("session_id").asText());
    assertEquals("1\n", second.path("stdout").asText(), second.toString());

    String entity = "asst_" + Ids.next().replace("-", "_").substring(0, 12);
    Map<String, Object> body = Map.of("lang", "py", "code", "y = 2", "entity_id", entity);
    String se = key().exec(body).json().path("session_id").asText();
    JsonNode again =
        key().exec(Map.of("lang", "py", "code", "print(y)", "entity_id", entity)).json();
    assertEquals(se, again.path("session_id").asText());
    assertEquals("2\n", again.path("stdout").asText(), again.toString());
  }
}
