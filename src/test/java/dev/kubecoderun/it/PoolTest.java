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
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The warm pool with the real jail server: sandboxes whose holder (PID 1 of their jail) dies are
 * replaced, and a jail server that dies is started again.
 */
@Tag("integration")
class PoolTest {
  private final TestServer server = TestServer.get();

  /**
   * The jail server process of this test server ({@code runner jail ... --base DATA/sandboxes}).
   */
  private ProcessHandle jailServer() {
    String dir = server.dataDir.resolve("sandboxes").toString();
    List<ProcessHandle> jails =
        ProcessHandle.allProcesses()
            .filter(
                p ->
                    p.info()
                        .commandLine()
                        .map(c -> c.contains(" jail ") && c.contains(dir) && !c.contains("__"))
                        .orElse(false))
            .toList();
    assertEquals(1, jails.size(), jails.toString());
    return jails.get(0);
  }

  /** The holders of the jail's sandboxes: one per sandbox, pooled or in use. */
  private Set<Long> holders() {
    return SandboxHolders.among(jailServer().descendants())
        .map(ProcessHandle::pid)
        .collect(Collectors.toSet());
  }

  /** The holder among {@code holders} whose sandbox has {@code file} in its /mnt/data (as root). */
  private static Optional<Long> sandboxWith(Set<Long> holders, String file) {
    return holders.stream()
        .filter(h -> Files.exists(Path.of("/proc/" + h + "/root/mnt/data/" + file)))
        .findFirst();
  }

  private void awaitWarmPython() throws InterruptedException {
    Eventually.await(
        "a warm py sandbox",
        Duration.ofSeconds(30),
        () -> server.app.pool().readyCount(Language.PY) >= 1);
    assertEquals(1, server.app.pool().readyCount(Language.PY), "a warm py sandbox is ready");
  }

  @Test
  void pooledSandboxesWhoseHolderIsKilledAreReplaced() throws InterruptedException {
    awaitWarmPython();
    Set<Long> before = holders();
    assertTrue(!before.isEmpty(), "the pooled sandboxes have holders");
    for (long pid : before) {
      ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
    }
    // Each pool back at its target (TestServer: one py, one js), with none of the killed holders.
    Eventually.await(
        "new warm sandboxes in place of the dead ones",
        Duration.ofSeconds(30),
        () -> {
          Set<Long> now = holders();
          return server.app.pool().readyCount(Language.PY) == 1
              && server.app.pool().readyCount(Language.JS) == 1
              && now.size() >= 2
              && now.stream().noneMatch(before::contains);
        });
    assertEquals("ok\n", server.exec("py", "print('ok')").json().path("stdout").asText());
  }

  @Test
  void aSandboxWhoseHolderIsKilledInTheMiddleOfARunIsA503AndTheNextRunWorks() throws Exception {
    awaitWarmPython();
    Set<Long> pooled = holders(); // the run takes the pooled py sandbox among them
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      var run =
          runs.submit(
              () -> server.exec("py", "open('started', 'w').close()\nimport time\ntime.sleep(15)"));
      Eventually.await(
          "the run's code running",
          Duration.ofSeconds(30),
          () -> sandboxWith(pooled, "started").isPresent());
      long victim = sandboxWith(pooled, "started").orElseThrow();
      // An operator, or the host's OOM killer: the sandbox's PID 1 dies and takes the run with it.
      ProcessHandle.of(victim).ifPresent(ProcessHandle::destroyForcibly);
      TestServer.Reply reply = run.get();
      Errors.assertError(reply, 503, "service_unavailable");
      assertTrue(reply.header("Retry-After") != null, "a 503 says when to retry");
    }
    assertEquals("ok\n", server.exec("py", "print('ok')").json().path("stdout").asText());
  }

  @Test
  void theJailServerKilledInTheMiddleOfARunIsA503AndItIsStartedAgain() throws Exception {
    awaitWarmPython();
    ProcessHandle victim = jailServer();
    Set<Long> pooled = holders();
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      var run =
          runs.submit(
              () -> server.exec("py", "open('started', 'w').close()\nimport time\ntime.sleep(15)"));
      Eventually.await(
          "the run's code running",
          Duration.ofSeconds(30),
          () -> sandboxWith(pooled, "started").isPresent());
      victim.destroyForcibly();
      TestServer.Reply reply = run.get();
      Errors.assertError(reply, 503, "service_unavailable");
      assertTrue(reply.header("Retry-After") != null, "a 503 says when to retry");
    }
    // The next run waits for the new jail (and its pool) instead of failing.
    assertEquals("ok\n", server.exec("py", "print('ok')").json().path("stdout").asText());
    assertTrue(jailServer().pid() != victim.pid(), "a new jail server runs");
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
