package dev.kubecoderun.bench;

import dev.kubecoderun.Application;
import dev.kubecoderun.config.Config;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The whole of the API's work for one {@code POST /v1/exec}, through its real HTTP server, with a
 * stub runner that answers at once: request parsing, auth, session resolution, state lookup, the
 * execution slot, the pool checkout, the runner call, output files, the answer. What the jail and
 * the user's code cost comes on top (scripts/bench measures both together).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class ApiBenchmark {
  /** print: the runner answers print(1); plot: it also created plot.png (20 kB), which is stored. */
  @Param({"print", "plot"})
  public String scenario;

  private StubRunner runner;
  private Application app;
  private Path data;
  private final HttpClient http = HttpClient.newHttpClient();
  private HttpRequest exec;

  @Setup(Level.Trial)
  public void start() throws IOException {
    runner = new StubRunner();
    runner.answerWith(scenario.equals("plot") ? StubRunner.PLOT : StubRunner.PRINT);
    data = Files.createTempDirectory("kcr-jmh-");
    Map<String, String> env = new HashMap<>();
    env.put("API_KEY", "jmh-key-0123456789");
    env.put("API_HOST", "127.0.0.1");
    env.put("API_PORT", "0");
    env.put("DATA_DIR", data.toString());
    env.put("LOG_LEVEL", "WARNING");
    env.put("POD_POOL_PY", "4");
    env.put("POD_POOL_JS", "0");
    app = Application.start(Config.from(env), runner.factory());
    exec =
        HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + app.port() + "/v1/exec"))
            .header("X-API-Key", "jmh-key-0123456789")
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{\"lang\":\"py\",\"code\":\"print(1)\"}"))
            .build();
  }

  @TearDown(Level.Trial)
  public void stop() {
    app.close();
    runner.close();
  }

  @Benchmark
  public int exec() throws IOException, InterruptedException {
    HttpResponse<byte[]> r = http.send(exec, HttpResponse.BodyHandlers.ofByteArray());
    if (r.statusCode() != 200) {
      throw new IllegalStateException(r.statusCode() + " " + new String(r.body()));
    }
    return r.body().length;
  }
}
