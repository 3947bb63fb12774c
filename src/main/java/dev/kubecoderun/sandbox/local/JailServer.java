package dev.kubecoderun.sandbox.local;

import dev.kubecoderun.common.Apart;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.common.RandomHex;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerSettings;
import dev.kubecoderun.sandbox.SandboxException;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webclient.api.HttpClientResponse;
import io.helidon.webclient.api.WebClient;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The jail server ({@code runner jail}, docs/runner-protocol.md "Jail mode"): one root process that
 * serves every local sandbox, each behind its own token, and forks every run into a jail of its
 * own. It is started once; if it dies it is started again (its sandboxes die with it, and the pool
 * replaces them). When the host cannot give a jail what it needs, the first start fails with the
 * jail's one-line reason.
 */
final class JailServer implements AutoCloseable {
  private static final Logger LOG = Logger.getLogger(JailServer.class.getName());
  private static final String REFUSAL = "runner jail: cannot jail sandboxes here: ";
  // How long a live jail may take to answer its health check before it is taken for hung: it
  // answers in a millisecond, also while it makes and runs sandboxes.
  private static final Duration HUNG_AFTER = Duration.ofSeconds(5);

  /** One run of the jail process. */
  record Instance(Process process, URI base) {}

  /** A sandbox the jail created: its id, token, and the pid of its holder (PID 1 of its jail). */
  record Created(Instance instance, String id, String token, long holderPid) {}

  private final LocalSandboxFactory.Settings settings;
  private final RunnerSettings runner;
  private final Toolchains toolchains;
  private final WebClient http;
  private final String adminAuthorization;
  private final Path log;
  private final Object lock = new Object();
  private Instance current; // guarded by lock; null while (re)starting
  private volatile boolean closed;
  // The service is stopping: the jail may be going too (Ctrl-C signals the whole process group).
  private volatile boolean stopping;

  JailServer(
      LocalSandboxFactory.Settings settings,
      RunnerSettings runner,
      Toolchains toolchains,
      WebClient http) {
    this.settings = settings;
    this.runner = runner;
    this.toolchains = toolchains;
    this.http = http;
    this.adminAuthorization = "Bearer " + RandomHex.of(24);
    this.log = settings.sandboxesDir().resolveSibling("jail.log");
    try {
      Files.createDirectories(settings.sandboxesDir());
      Files.deleteIfExists(log);
      setCurrent(start());
    } catch (IOException | SandboxException e) {
      // Main prints it after "cannot start: ".
      throw new IllegalStateException("local sandboxes: " + e.getMessage(), e);
    }
  }

  /** The running jail, waiting (up to the start timeout) while it is being started again. */
  Instance instance() throws SandboxException {
    long deadline = System.nanoTime() + runner.startTimeout().toNanos();
    synchronized (lock) {
      while (current == null || !current.process().isAlive()) {
        long left = deadline - System.nanoTime();
        // Stopping, a dead jail is not started again (restartAfter): no use waiting for it.
        if (closed || left <= 0 || stopping && current != null) {
          throw new SandboxException("the sandbox jail is not running");
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(lock, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new SandboxException("interrupted while waiting for the sandbox jail");
        }
      }
      return current;
    }
  }

  /**
   * Creates a sandbox; {@code warm} starts a js sandbox's Node ahead (Python runs are forked). The
   * API names it: a create that fails once sent (the caller interrupted, a read timeout, an answer
   * it cannot read) deletes that id, for the jail may have made the sandbox all the same, and
   * nothing else would ever end it (it would hold one of the jail's uids for good).
   */
  Created create(Language language, boolean warm) throws SandboxException {
    Instance jail = instance();
    String id = RandomHex.of(12);
    String body =
        Json.writeString(
            Map.of("id", id, "language", language.code(), "warm", warm, "single_use", true));
    boolean settled = false; // made and known, or refused by the jail: no sandbox left to delete
    try (HttpClientResponse res =
        http.post(jail.base().resolve("/sandboxes").toString())
            .keepAlive(false)
            .header(HeaderNames.AUTHORIZATION, adminAuthorization)
            .contentType(MediaTypes.APPLICATION_JSON)
            .readTimeout(runner.startTimeout())
            .submit(body)) {
      byte[] answer = res.entity().as(byte[].class);
      if (res.status() != Status.CREATED_201) {
        settled = true;
        throw new SandboxException("the jail refused a sandbox: " + refusalReason(res, answer));
      }
      var tree = Json.tree(answer);
      String token = tree.path("token").asText("");
      if (token.isBlank()) {
        throw new IOException("the jail's answer has no token");
      }
      Created created = new Created(jail, id, token, tree.path("pid").asLong());
      settled = true;
      return created;
    } catch (IOException | RuntimeException e) {
      throw new SandboxException("cannot create a sandbox: " + e.getMessage(), e);
    } finally {
      if (!settled) {
        abandon(jail, id);
      }
    }
  }

  /**
   * A create that failed once sent: the sandbox the jail may have made is deleted, unless the jail
   * does not answer at all. A jail that is alive but hung (stopped, deadlocked) would otherwise
   * fail every create, each after the whole read timeout, until someone restarts it: it is killed,
   * and started again as after any death (its sandboxes die with it). Killing it ends every sandbox
   * of every user on the host, so it takes two health checks that each waited {@link #HUNG_AFTER}
   * in vain; a check that failed otherwise (refused, broken) proves no hang. Done apart from the
   * caller ({@link Apart}): an interrupt of the caller (a cancelled run's owner) would break the
   * checks, and a broken check must never be taken for a hung jail.
   */
  private void abandon(Instance jail, String id) {
    Apart.run(
        "jail-cleanup",
        () -> {
          if (!silent(jail) || !silent(jail)) {
            delete(jail, id);
          } else if (jail.process().isAlive()) {
            LOG.warning(
                "the sandbox jail did not answer two health checks within "
                    + HUNG_AFTER.toSeconds()
                    + " s each; killing it to start it again");
            jail.process().destroyForcibly();
          }
        });
  }

  /**
   * Whether the jail's health check went unanswered for {@link #HUNG_AFTER} (a read or connect
   * timeout): a live jail answers at once. Any other end (an answer, a refused or broken
   * connection) is not silence.
   */
  private boolean silent(Instance jail) {
    try {
      // An answer, whatever it says: the jail is not hung.
      http.get(jail.base().resolve("/health").toString())
          .keepAlive(false)
          .readTimeout(HUNG_AFTER)
          .request()
          .close();
      return false;
    } catch (RuntimeException e) {
      for (Throwable t = e; t != null; t = t.getCause()) {
        if (t instanceof SocketTimeoutException) {
          return true;
        }
      }
      return false;
    }
  }

  /** The jail's own reason for a refusal ({@code {"error"}}), else its status and what it said. */
  private static String refusalReason(HttpClientResponse res, byte[] answer) {
    try {
      String error = Json.tree(answer).path("error").asText("");
      if (!error.isBlank()) {
        return error;
      }
    } catch (IOException | RuntimeException e) {
      // not the jail's JSON: what it answered, below
    }
    String text = new String(answer, 0, Math.min(answer.length, 200), StandardCharsets.UTF_8);
    return res.status().code() + " " + text.strip();
  }

  /**
   * Destroys a sandbox of that jail instance (a dead instance took its sandboxes with it). Never
   * throws. A caller interrupted (a cancelled run, a start given up at shutdown), even again and
   * again, still deletes ({@link Apart}).
   */
  void destroy(Instance jail, String id) {
    if (jail.process().isAlive()) {
      Apart.run("jail-cleanup", () -> delete(jail, id));
    }
  }

  private void delete(Instance jail, String id) {
    try (HttpClientResponse res =
        http.delete(jail.base().resolve("/sandboxes/" + id).toString())
            .keepAlive(false)
            .header(HeaderNames.AUTHORIZATION, adminAuthorization)
            .readTimeout(Duration.ofSeconds(30))
            .request()) {
      if (res.status() != Status.NO_CONTENT_204 && res.status() != Status.NOT_FOUND_404) {
        LOG.warning("the jail could not destroy sandbox " + id + ": " + res.status().code());
      }
    } catch (RuntimeException e) {
      // A jail that no longer listens (refused) while the service stops got the stop's signal
      // too: it ends every sandbox as it exits. Otherwise the sandbox may be left running.
      if (jail.process().isAlive()) {
        LOG.log(
            stopping ? Level.FINE : Level.WARNING,
            "cannot destroy sandbox " + id + ": " + e.getMessage());
      }
    }
  }

  /** The service is stopping: a jail that exits now is not started again, nor warned about. */
  void stopping() {
    stopping = true;
  }

  /** Stops the jail: it kills every sandbox and removes its cgroups, then exits. */
  @Override
  public void close() {
    Instance jail;
    synchronized (lock) {
      closed = true;
      jail = current;
      lock.notifyAll();
    }
    if (jail == null) {
      return;
    }
    jail.process().destroy(); // SIGTERM: it cleans up
    try {
      if (!jail.process().waitFor(20, TimeUnit.SECONDS)) {
        jail.process().destroyForcibly();
        jail.process().waitFor(5, TimeUnit.SECONDS);
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private void setCurrent(Instance jail) {
    synchronized (lock) {
      current = jail;
      lock.notifyAll();
    }
    jail.process().onExit().thenRun(() -> restartAfter(jail));
  }

  /** The jail died on its own: start another (its sandboxes are gone; the pool replaces them). */
  private void restartAfter(Instance dead) {
    synchronized (lock) {
      if (closed || current != dead) {
        return;
      }
      if (stopping) {
        // The signal that stops the service reached the jail too (Ctrl-C): it is done.
        LOG.fine(
            "the sandbox jail exited (" + dead.process().exitValue() + ") as the service stops");
        return;
      }
      current = null;
    }
    LOG.warning(
        "the sandbox jail exited ("
            + dead.process().exitValue()
            + "); starting it again. Its log: "
            + tail());
    Thread.ofVirtual()
        .start(
            () -> {
              while (!closed) {
                try {
                  setCurrent(start());
                  return;
                } catch (IOException | SandboxException e) {
                  LOG.warning("cannot start the sandbox jail again: " + e.getMessage());
                  try {
                    Thread.sleep(2000);
                  } catch (InterruptedException ie) {
                    return;
                  }
                }
              }
            });
  }

  /** Starts the jail and waits until it answers with its Python template ready. */
  private Instance start() throws IOException, SandboxException {
    int port = freePort();
    List<String> cmd = new ArrayList<>();
    cmd.add(settings.runnerBinary().toString());
    cmd.add("jail");
    add(cmd, "--listen", "127.0.0.1:" + port, "--base", settings.sandboxesDir().toString());
    for (Path root : toolchains.extraRoots()) {
      add(cmd, "--ro-bind", root.toString());
    }
    // The templates: every py run is forked from a Python one, js runs from the Node one.
    add(cmd, "--warm", "py,js");
    add(cmd, "--max-memory", Long.toString(settings.maxMemoryBytes()));
    add(cmd, "--disk-size", Long.toString(settings.jail().diskBytes()));
    add(cmd, "--disk-inodes", Integer.toString(settings.jail().diskInodes()));
    add(cmd, "--shm-size", Long.toString(settings.jail().shmBytes()));
    add(cmd, "--max-cpu", Double.toString(settings.jail().cpuLimit()));
    add(cmd, "--cpu-weight", Double.toString(settings.jail().cpuWeight()));
    add(cmd, "--uid-base", Integer.toString(settings.jail().uidBase()));
    add(cmd, "--uid-count", Integer.toString(settings.jail().uidCount()));
    if (settings.jail().cgroupFavorDynmods()) {
      cmd.add("--cgroup-favordynmods");
    }
    add(cmd, "--start-timeout", runner.startTimeout().toSeconds() + "s");
    ProcessBuilder pb = new ProcessBuilder(cmd);
    Map<String, String> env = pb.environment();
    env.clear();
    env.put("PATH", "/usr/local/bin:/usr/bin:/bin");
    env.put("RUNNER_ADMIN_TOKEN", adminAuthorization.substring("Bearer ".length()));
    env.putAll(runner.environment()); // the limits every backend's runners get, and the preload
    env.putAll(toolchains.runnerEnvironment());
    pb.redirectErrorStream(true);
    pb.redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    Process process = pb.start();
    Instance jail = new Instance(process, URI.create("http://127.0.0.1:" + port));
    awaitReady(jail);
    return jail;
  }

  private void awaitReady(Instance jail) throws SandboxException {
    long deadline = System.nanoTime() + runner.startTimeout().toNanos() * 2;
    long sleepMs = 2;
    while (System.nanoTime() < deadline) {
      if (!jail.process().isAlive()) {
        throw new SandboxException(refusal());
      }
      if (ready(jail)) {
        return;
      }
      try {
        Thread.sleep(sleepMs);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        jail.process().destroyForcibly();
        throw new SandboxException("interrupted while starting the sandbox jail");
      }
      sleepMs = Math.min(sleepMs * 2, 50);
    }
    jail.process().destroyForcibly();
    throw new SandboxException(
        "the sandbox jail was not ready within "
            + runner.startTimeout().toSeconds() * 2
            + " s; its log: "
            + tail());
  }

  private boolean ready(Instance jail) {
    try (HttpClientResponse res =
        http.get(jail.base().resolve("/health").toString())
            .keepAlive(false)
            .readTimeout(Duration.ofSeconds(2))
            .request()) {
      if (res.status() != Status.OK_200) {
        return false;
      }
      var warm = Json.tree(res.entity().as(byte[].class)).path("warm");
      return warm.path("py").asBoolean(false);
    } catch (IOException | RuntimeException e) {
      return false;
    }
  }

  /** The jail's own one-line reason when it refuses to start, else the end of its log. */
  private String refusal() {
    String text = tail();
    String reason = null;
    for (String line : text.split("\n")) {
      if (line.startsWith(REFUSAL)) {
        reason = "no jail on this host: " + line.substring(REFUSAL.length()).trim();
      }
    }
    return reason != null ? reason : "the sandbox jail exited at start: " + text;
  }

  private String tail() {
    try {
      String s = Files.readString(log);
      return s.length() > 2000 ? s.substring(s.length() - 2000) : s;
    } catch (IOException e) {
      return "(no log)";
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private static void add(List<String> cmd, String... args) {
    cmd.addAll(List.of(args));
  }
}
