package dev.kubecoderun.execution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.kubecoderun.language.Language;
import dev.kubecoderun.session.Session;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class SandboxKeyTest {
  private static Session session(String owner, Instant created) {
    return new Session(
        "sess1", created, created, created.plusSeconds(3600), null, null, owner, "t");
  }

  @Test
  void aSessionMadeAnewUnderItsIdKeepsNoSandboxOfItsFormerIncarnation() {
    Instant first = Instant.parse("2030-01-01T10:00:00Z");
    Instant again = first.plusSeconds(7200);
    assertNotEquals(
        ExecutionService.sandboxKey(session("key:a", first), Language.PY),
        ExecutionService.sandboxKey(session("key:b", again), Language.PY));
    assertEquals(
        ExecutionService.sandboxKey(session("key:a", first), Language.PY),
        ExecutionService.sandboxKey(session("key:a", first), Language.PY),
        "the same session's runs share one");
    assertNotEquals(
        ExecutionService.sandboxKey(session("key:a", first), Language.PY),
        ExecutionService.sandboxKey(session("key:a", first), Language.JS));
  }
}
