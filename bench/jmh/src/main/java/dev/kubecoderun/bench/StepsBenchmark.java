package dev.kubecoderun.bench;

import dev.kubecoderun.api.ExecParsing;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.execution.ExecResponse;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.LocalFileMetadataStore;
import dev.kubecoderun.files.LocalObjectStore;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.RunnerRequest;
import dev.kubecoderun.sandbox.RunnerResult;
import dev.kubecoderun.sandbox.Sandbox;
import dev.kubecoderun.sandbox.SandboxException;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.memory.Room;
import dev.kubecoderun.session.LocalSessionLocks;
import dev.kubecoderun.session.LocalSessionStore;
import dev.kubecoderun.session.Session;
import dev.kubecoderun.session.SessionResolver;
import dev.kubecoderun.session.SessionsAndFiles;
import dev.kubecoderun.state.LocalStateStore;
import io.helidon.webclient.api.WebClient;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/** The steps of the API's per-request work, one at a time (ApiBenchmark measures them together). */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class StepsBenchmark {
  private static final byte[] REQUEST =
      "{\"lang\":\"py\",\"code\":\"print(1)\",\"entity_id\":\"asst_1\",\"user_id\":\"u1\"}"
          .getBytes(StandardCharsets.UTF_8);
  private static final byte[] PNG = new byte[20000];

  private StubRunner runner;
  private RunnerClient client;
  private SandboxPool pool;
  private SessionResolver sessions;
  private FileService files;
  private static final Principal OWNER = Principal.apiKey("jmh-key");
  private Session session;
  private Path data;
  private final RunnerRequest run = new RunnerRequest("py", "print(1)", 30000, List.of(), null, true);
  private final ExecResponse answer =
      new ExecResponse(
          "T-CMUEaAkSGE9TXw1Tj4a",
          "1\n",
          "",
          List.of(new ExecResponse.OutputFile("f1", "plot.png", "T-CMUEaAkSGE9TXw1Tj4a", null)),
          List.of(),
          "ok",
          0,
          null,
          3,
          false,
          null,
          null,
          List.of(),
          null);

  @Setup(Level.Trial)
  public void start() throws IOException, InterruptedException {
    runner = new StubRunner();
    WebClient http = WebClient.builder().socketOptions(o -> o.tcpNoDelay(true)).build();
    client = new RunnerClient(http, runner.base(), "stub-token");
    pool = new SandboxPool(runner.factory(), l -> l == Language.PY ? 4 : 0, 2, Duration.ofSeconds(1));
    pool.start();
    data = Files.createTempDirectory("kcr-jmh-steps-");
    Clock clock = Clock.systemUTC();
    LocalSessionStore sessionStore = new LocalSessionStore(data);
    LocalFileMetadataStore metadata = new LocalFileMetadataStore(data);
    LocalObjectStore objects = new LocalObjectStore(data);
    SessionsAndFiles wired =
        SessionsAndFiles.wire(
            sessionStore,
            metadata,
            objects,
            new LocalStateStore(data, Duration.ofHours(1), clock),
            new LocalSessionLocks(),
            clock,
            Duration.ZERO,
            Duration.ofSeconds(1));
    sessions = wired.sessions();
    files = wired.files();
    session = sessions.resolve(
        OWNER, null, List.of(), null, null, SessionResolver.Another.FALL_BACK);
  }

  @TearDown(Level.Trial)
  public void stop() {
    pool.close();
    runner.close();
  }

  /** The /exec body, parsed and validated into a command. */
  @Benchmark
  public Object parseRequest() throws IOException {
    return ExecParsing.parse(Json.tree(REQUEST));
  }

  /** POST /execute to a runner on loopback (a new connection, as the API does) and its answer. */
  @Benchmark
  public RunnerResult runnerCall() throws SandboxException {
    return client.execute(run, Duration.ofSeconds(30));
  }

  /** Taking a warm sandbox from the pool and handing it back. */
  @Benchmark
  public Sandbox poolCheckout() throws SandboxException, InterruptedException {
    Sandbox s = pool.acquire(Language.PY);
    pool.release(s);
    return s;
  }

  /** A new session (a request without session_id), written through to disk. */
  @Benchmark
  public Session newSession() throws InterruptedException {
    return sessions.resolve(
        OWNER, null, List.of(), null, null, SessionResolver.Another.FALL_BACK);
  }

  /** One output file (20 kB) into the file store: bytes, then metadata. */
  @Benchmark
  public Object storeOutput() throws IOException {
    return files.storeOutput(
        OWNER, session.id(), "plot.png", new ByteArrayInputStream(PNG), 1 << 20, Room.NONE);
  }

  /** The /exec answer as JSON. */
  @Benchmark
  public byte[] writeAnswer() {
    return Json.write(answer);
  }
}
