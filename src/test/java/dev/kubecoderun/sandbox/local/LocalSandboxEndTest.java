package dev.kubecoderun.sandbox.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerRequest;
import dev.kubecoderun.sandbox.RunnerResult;
import dev.kubecoderun.sandbox.RunnerSettings;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.testing.Eventually;
import dev.kubecoderun.testing.RunnerBinary;
import dev.kubecoderun.testing.SandboxUids;
import io.helidon.http.Method;
import io.helidon.webclient.api.WebClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With the real jail server: a sandbox whose run left no file ends itself, and closing it sends no
 * DELETE; one whose run left a file stays for its file to be read, and closing it deletes it.
 */
class LocalSandboxEndTest {
  @TempDir Path dir;
  private final List<String> deletes = new CopyOnWriteArrayList<>();
  private LocalSandboxFactory factory;

  @AfterEach
  void stop() {
    if (factory != null) {
      factory.close();
    }
  }

  private LocalSandboxFactory start() {
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", "local-sandbox-end-test-key");
    env.put("DATA_DIR", dir.toString());
    env.put("PATH", System.getenv("PATH"));
    env.put("RUNNER_BIN", RunnerBinary.path());
    WebClient http =
        WebClient.builder()
            .addService(
                (chain, request) -> {
                  if (request.method() == Method.DELETE) {
                    deletes.add(request.uri().path().path());
                  }
                  return chain.proceed(request);
                })
            .build();
    return SandboxUids.start(
        env,
        e -> {
          Config c = Config.from(e);
          return new LocalSandboxFactory(
              new LocalSandboxFactory.Settings(
                  c.sandbox().runnerBinary(), dir.resolve("sandboxes"), 0, c.sandbox().jail()),
              new RunnerSettings(Duration.ofSeconds(30), 20_000, 1 << 20, 1 << 20, ""),
              Toolchains.discover(
                  c.sandbox().path(), c.sandbox().toolOverrides(), c.sandbox().toolsDir()),
              http);
        });
  }

  private static RunnerResult run(Sandbox s, String code) throws Exception {
    return s.runner()
        .execute(
            new RunnerRequest("bash", code, 10_000, List.of(), null, false),
            Duration.ofSeconds(30));
  }

  @Test
  void aSandboxWhoseRunLeftNoFileEndsItselfAndIsNotDeletedAgain() throws Exception {
    factory = start();
    Sandbox ended = factory.create(Language.BASH, false);
    RunnerResult r = run(ended, "echo hi");
    assertEquals("hi\n", r.stdout());
    assertTrue(r.sandboxEnded(), "a run that left no file ends its sandbox");
    Eventually.await(
        "the sandbox's holder to be gone without a DELETE",
        Duration.ofSeconds(10),
        () -> !ended.isAlive());
    ended.close();
    assertEquals(List.of(), deletes);

    Sandbox kept = factory.create(Language.BASH, false);
    RunnerResult withFile = run(kept, "echo x > out.txt");
    assertFalse(withFile.sandboxEnded(), "a run that left a file keeps its sandbox");
    assertEquals(
        "x\n",
        kept.runner()
            .readFile(
                withFile.changedFiles().get(0).encodedPath(),
                java.time.Duration.ofSeconds(30),
                in -> new String(in.readAllBytes(), StandardCharsets.UTF_8)));
    assertTrue(kept.isAlive());
    kept.close();
    assertEquals(List.of("/sandboxes/" + kept.id()), deletes);
  }
}
