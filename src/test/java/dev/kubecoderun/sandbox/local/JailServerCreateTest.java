package dev.kubecoderun.sandbox.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.common.Json;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerSettings;
import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.testing.Eventually;
import dev.kubecoderun.testing.RunnerBinary;
import dev.kubecoderun.testing.SandboxUids;
import io.helidon.http.Method;
import io.helidon.webclient.api.HttpClientResponse;
import io.helidon.webclient.api.WebClient;
import io.helidon.webclient.api.WebClientServiceResponse;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * With the real jail server: a create the API gives up on (its caller interrupted, as a cancelled
 * programmatic run's owner is, or its answer lost) leaves no sandbox in the jail, where it would
 * hold one of the jail's uids for good.
 */
class JailServerCreateTest {
  @TempDir Path dir;
  private volatile boolean loseCreateAnswers;
  private WebClient http;
  private JailServer jail;

  /** Starts the jail; {@code startTimeout} is also how long a create waits for its answer. */
  private void start(Duration startTimeout) {
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", "jail-server-create-test-key");
    env.put("DATA_DIR", dir.toString());
    env.put("PATH", System.getenv("PATH"));
    env.put("RUNNER_BIN", RunnerBinary.path());
    http =
        WebClient.builder()
            .addService(
                (chain, request) -> {
                  WebClientServiceResponse res = chain.proceed(request);
                  if (loseCreateAnswers && request.method() == Method.POST) {
                    // The jail has answered; the caller never reads it: interrupted meanwhile.
                    res.connection().closeResource();
                    Thread.currentThread().interrupt();
                    throw new UncheckedIOException(
                        new InterruptedIOException("interrupted while reading the answer"));
                  }
                  return res;
                })
            .build();
    jail =
        SandboxUids.start(
            env,
            e -> {
              Config c = Config.from(e);
              return new JailServer(
                  new LocalSandboxFactory.Settings(
                      c.sandbox().runnerBinary(), dir.resolve("sandboxes"), 0, c.sandbox().jail()),
                  new RunnerSettings(startTimeout, 20_000, 1 << 20, 1 << 20, ""),
                  Toolchains.discover(
                      c.sandbox().path(), c.sandbox().toolOverrides(), c.sandbox().toolsDir()),
                  http);
            });
  }

  @AfterEach
  void stop() {
    if (jail != null) {
      jail.close();
    }
  }

  /** The jail's count of its sandboxes (each holds a uid, a tmpfs, cgroups and a holder). */
  private int liveSandboxes() {
    loseCreateAnswers = false;
    try (HttpClientResponse res =
        http.get(jail.instance().base().resolve("/health").toString()).request()) {
      return Json.tree(res.entity().as(byte[].class)).path("sandboxes").asInt(-1);
    } catch (IOException | SandboxException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void aCreateWhoseAnswerIsLostDeletesTheSandboxTheJailMade() throws Exception {
    start(Duration.ofSeconds(30));
    assertEquals(0, liveSandboxes());
    for (int i = 0; i < 3; i++) {
      loseCreateAnswers = true;
      SandboxException e =
          assertThrows(SandboxException.class, () -> jail.create(Language.BASH, false));
      assertTrue(e.getMessage().contains("interrupted"), e.getMessage());
      assertTrue(Thread.interrupted(), "the caller is still interrupted after the delete");
      assertEquals(0, liveSandboxes(), "sandboxes left in the jail after " + (i + 1));
    }
  }

  @Test
  void createsInterruptedAtAnyMomentLeaveNoSandbox() throws Exception {
    start(Duration.ofSeconds(30));
    for (int i = 0; i < 40; i++) {
      AtomicReference<JailServer.Created> made = new AtomicReference<>();
      Thread caller =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      made.set(jail.create(Language.BASH, false));
                    } catch (SandboxException e) {
                      // given up: the jail must not keep the sandbox
                    }
                  });
      // The cancel lands at a different moment of the create each time (it takes milliseconds).
      LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(4_000_000));
      caller.interrupt();
      caller.join();
      JailServer.Created created = made.get();
      if (created != null) {
        jail.destroy(created.instance(), created.id());
      }
    }
    Eventually.await(
        "every sandbox of an interrupted create gone",
        Duration.ofSeconds(20),
        () -> liveSandboxes() == 0);
  }

  /**
   * A cancel repeated (a client that sends it again and again) interrupts the create's caller at
   * any moment, also while it deletes what the jail may have made: the jail is never taken for hung
   * and killed, which would end every sandbox of every user on the host.
   */
  @Test
  void createsInterruptedAgainAndAgainNeverRestartTheJail() throws Exception {
    start(Duration.ofSeconds(30));
    JailServer.Instance before = jail.instance();
    JailServer.Created another = jail.create(Language.BASH, false); // another user's sandbox
    for (int i = 0; i < 30; i++) {
      AtomicReference<JailServer.Created> made = new AtomicReference<>();
      Thread caller =
          Thread.ofVirtual()
              .start(
                  () -> {
                    try {
                      made.set(jail.create(Language.BASH, false));
                    } catch (SandboxException e) {
                      // given up
                    }
                  });
      while (caller.isAlive()) {
        LockSupport.parkNanos(ThreadLocalRandom.current().nextLong(500_000));
        caller.interrupt();
      }
      JailServer.Created created = made.get();
      if (created != null) {
        jail.destroy(created.instance(), created.id());
      }
      assertTrue(before.process().isAlive(), "the jail was killed after " + (i + 1));
      assertSame(before, jail.instance(), "the jail was started again after " + (i + 1));
    }
    assertTrue(
        ProcessHandle.of(another.holderPid()).map(ProcessHandle::isAlive).orElse(false),
        "another user's sandbox is still alive");
    Eventually.await(
        "only the other sandbox left", Duration.ofSeconds(20), () -> liveSandboxes() == 1);
  }

  @Test
  void aJailThatStopsAnsweringIsStartedAgain() throws Exception {
    start(Duration.ofSeconds(5));
    JailServer.Instance hung = jail.instance();
    // The jail server proper is the child of the process the API started (docs/runner-protocol.md):
    // stopped, it still accepts connections but answers none.
    long server = hung.process().children().findFirst().orElseThrow().pid();
    new ProcessBuilder("kill", "-STOP", Long.toString(server)).inheritIO().start().waitFor();
    assertThrows(SandboxException.class, () -> jail.create(Language.BASH, false));
    Eventually.await(
        "a new jail that makes sandboxes",
        Duration.ofSeconds(90),
        () -> {
          try {
            JailServer.Created created = jail.create(Language.BASH, false);
            jail.destroy(created.instance(), created.id());
            return created.instance() != hung;
          } catch (SandboxException e) {
            return false;
          }
        });
    assertTrue(!hung.process().isAlive(), "the hung jail is gone");
  }
}
