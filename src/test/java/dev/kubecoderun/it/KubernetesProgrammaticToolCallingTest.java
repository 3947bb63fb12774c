package dev.kubecoderun.it;

import static dev.kubecoderun.it.ProgrammaticToolCallingTest.continuation;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.post;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.python;
import static dev.kubecoderun.it.ProgrammaticToolCallingTest.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** Programmatic tool calling with the sandbox in a pod of the test cluster (runner as PID 1). */
@Tag("kubernetes")
class KubernetesProgrammaticToolCallingTest {
  @Test
  void oneCallAGatherOfThreeAndTheGeneratedFiles() {
    ProgrammaticToolCallingTest.flow(TestServer.kubernetes());
  }

  @Test
  void bashRunsInTheBashImageWithoutPython() {
    TestServer s = TestServer.kubernetes();
    assertTrue(s.canRun("bash"), "the bash image is not unpacked (scripts/test builds it)");
    ProgrammaticToolCallingTest.bashFlow(s, true);
  }

  @Test
  void aTokenIsSingleUse() {
    TestServer s = TestServer.kubernetes();
    JsonNode r = post(s, TestServer.KEY, null, python("print(await t())\n", "t")).json();
    List<java.util.Map<String, Object>> results = List.of(result(r.at("/tool_calls/0"), "pod"));
    TestServer.Reply end = post(s, TestServer.KEY, null, continuation(r, results));
    assertEquals("pod\n", end.json().get("stdout").asText(), end.body());
    Errors.assertError(
        post(s, TestServer.KEY, null, continuation(r, results)), 409, "resource_conflict");
  }
}
