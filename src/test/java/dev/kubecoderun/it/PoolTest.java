package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.Application;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.testing.Eventually;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The warm pool with real runner processes. */
@Tag("integration")
class PoolTest {
  private final TestServer server = TestServer.get();

  private List<ProcessHandle> warmPythonRunners() {
    String dir = server.dataDir.resolve("sandboxes").toString();
    return ProcessHandle.allProcesses()
        .filter(
            p ->
                p.info()
                    .commandLine()
                    .map(c -> c.contains(dir) && c.contains("--warm py") && !c.contains("__child"))
                    .orElse(false))
        .toList();
  }

  private void awaitWarmPython() throws InterruptedException {
    Eventually.await(
        "a warm py sandbox",
        Duration.ofSeconds(30),
        () -> server.app.pool().readyCount(Language.PY) >= 1);
    assertEquals(1, server.app.pool().readyCount(Language.PY), "a warm py sandbox is ready");
  }

  /** The sandbox folder a runner serves (its --workdir): where the code's files appear. */
  private static Path workdirOf(ProcessHandle runner) {
    List<String> args = List.of(runner.info().arguments().orElseThrow());
    return Path.of(args.get(args.indexOf("--workdir") + 1));
  }

  @Test
  void aWarmSandboxKilledWhileWaitingIsReplaced() throws InterruptedException {
    awaitWarmPython();
    List<ProcessHandle> before = warmPythonRunners();
    assertEquals(1, before.size(), before.toString());
    ProcessHandle victim = before.get(0);
    victim.destroyForcibly();
    victim.onExit().join();
    Eventually.await(
        "a new warm py sandbox in place of the dead one",
        Duration.ofSeconds(30),
        () -> {
          List<ProcessHandle> now = warmPythonRunners();
          return server.app.pool().readyCount(Language.PY) == 1
              && now.size() == 1
              && now.get(0).pid() != victim.pid();
        });
    List<ProcessHandle> after = warmPythonRunners();
    assertEquals(1, after.size());
    assertTrue(after.get(0).pid() != victim.pid(), "a new sandbox replaced the dead one");
    assertEquals("ok\n", server.exec("py", "print('ok')").json().path("stdout").asText());
  }

  @Test
  void aSandboxKilledInTheMiddleOfARunIsA503AndTheNextRunWorks() throws Exception {
    awaitWarmPython();
    ProcessHandle victim = warmPythonRunners().get(0); // the pool holds one: the run takes it
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      var run =
          runs.submit(
              () -> server.exec("py", "open('started', 'w').close()\nimport time\ntime.sleep(15)"));
      Path started = workdirOf(victim).resolve("started");
      Eventually.await(
          "the run's code running", Duration.ofSeconds(30), () -> Files.exists(started));
      assertTrue(victim.isAlive(), "the run's sandbox is still running");
      // An operator or the host's OOM killer: nothing of the runner gets to answer.
      victim.destroyForcibly();
      TestServer.Reply reply = run.get();
      Errors.assertError(reply, 503, "service_unavailable");
      assertTrue(reply.header("Retry-After") != null, "a 503 says when to retry");
    }
    assertEquals("ok\n", server.exec("py", "print('ok')").json().path("stdout").asText());
  }

  /** Go's warm step is its build cache: a Go pool fills like the others (it used to time out). */
  @Test
  void aGoPoolFillsOnceItsBuildCacheIsIn() throws Exception {
    Path data = Files.createTempDirectory("kcr-go-pool-");
    try (Application app = StandaloneServer.start(data, Map.of("POD_POOL_GO", "1"))) {
      Eventually.await(
          "a warm go sandbox",
          Duration.ofSeconds(60),
          () -> app.pool().readyCount(Language.GO) == 1);
      assertEquals(0L, app.pool().stats().get("misses"));
    }
  }
}
