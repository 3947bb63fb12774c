package dev.kubecoderun.metrics;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.jvm.ClassLoaderMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmInfoMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.FileDescriptorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.core.instrument.config.MeterFilter;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.util.Set;
import java.util.function.Supplier;

/**
 * The service's Prometheus metrics (GET /metrics), through Micrometer's Prometheus registry: names
 * and units follow Prometheus conventions ({@code _total}, {@code _seconds}, {@code _bytes}) and
 * every label has a small, fixed set of values (a route template, never a raw path). The names are
 * listed in docs/operations.md.
 */
public final class Metrics implements AutoCloseable {
  /** Executions: 1 ms to 60 s, about three buckets per factor of ten. */
  private static final Duration[] EXECUTION_BUCKETS =
      durations(
          1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 20_000, 30_000, 60_000);

  /** Waits and sandbox starts: 1 ms to 2 min. */
  private static final Duration[] WAIT_BUCKETS =
      durations(1, 5, 10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000);

  /** The methods the request meter names; any other token a client sends is counted as OTHER. */
  private static final Set<String> METHODS =
      Set.of("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS");

  /**
   * The most values each label of the request meter may take: far above what the service produces
   * (the methods above, its route templates, the status codes it answers with), so reaching one
   * means a value escaped its mapping; the requests beyond are then not measured rather than each
   * adding a series (heap, and every scrape) for as long as the process lives.
   */
  static final int MAX_METHODS = 10;

  static final int MAX_ROUTES = 200;
  static final int MAX_STATUSES = 100;

  private final PrometheusMeterRegistry registry;
  private final JvmGcMetrics gc;

  /** The service's metrics, JVM and process ones included. */
  public Metrics() {
    this(true);
  }

  private Metrics(boolean jvm) {
    registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    // Before any meter is registered: a filter added later does not apply to earlier meters.
    registry
        .config()
        .meterFilter(bounded("method", MAX_METHODS))
        .meterFilter(bounded("route", MAX_ROUTES))
        .meterFilter(bounded("status", MAX_STATUSES));
    if (!jvm) {
      gc = null;
      return;
    }
    new ClassLoaderMetrics().bindTo(registry);
    new JvmMemoryMetrics().bindTo(registry);
    gc = new JvmGcMetrics();
    gc.bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new JvmInfoMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
    new UptimeMetrics().bindTo(registry);
    new FileDescriptorMetrics().bindTo(registry);
  }

  /** Metrics of one component in a unit test: its own registry, nothing of the JVM. */
  public static Metrics unbound() {
    return new Metrics(false);
  }

  /** Everything, in the Prometheus text exposition format. */
  public String scrape() {
    return registry.scrape();
  }

  public MeterRegistry registry() {
    return registry;
  }

  private static MeterFilter bounded(String tag, int max) {
    return MeterFilter.maximumAllowableTags("http.server.requests", tag, max, MeterFilter.deny());
  }

  /**
   * One HTTP request: {@code route} is the route template ("/files/{session_id}"). {@code method}
   * is the request's, as the client sent it: any token is a valid method, so only the standard ones
   * are labels of their own and every other is OTHER (else each invented method would add a series,
   * without limit and without a key).
   */
  public void request(String method, String route, int status, long nanos) {
    Timer.builder("http.server.requests")
        .description("HTTP requests by method, route template and status")
        .tags(
            "method",
            METHODS.contains(method) ? method : "OTHER",
            "route",
            route,
            "status",
            Integer.toString(status))
        .register(registry)
        .record(Duration.ofNanos(nanos));
    // Every 429, whichever refused it: a rate limit, or a credential throttled (counted by scope
    // in kubecoderun.auth.throttled too).
    if (status == 429) {
      Counter.builder("kubecoderun.rate.limit.refusals")
          .description(
              "Requests answered 429: refused by a rate limit, or a credential refused unchecked"
                  + " (kubecoderun_auth_throttled_total)")
          .register(registry)
          .increment();
    }
  }

  /**
   * A credential refused unchecked with 429: its address failed too many checks
   * (AUTH_FAILURE_LIMIT). {@code scope}: {@code api} (API keys) or {@code operator} (the master key
   * and the metrics token).
   */
  public void credentialThrottled(String scope) {
    Counter.builder("kubecoderun.auth.throttled")
        .description("Credentials refused unchecked: their address failed too many checks")
        .tags("scope", scope)
        .register(registry)
        .increment();
  }

  /**
   * One /exec from request to answer; {@code outcome}: ok, error (the code failed), timeout, failed
   * (no answer from the code: 5xx), busy (409, the session was busy).
   */
  public void execution(String language, String outcome, long nanos) {
    Timer.builder("kubecoderun.executions")
        .description("Executions (/exec) by language and outcome, request to answer")
        .tags("language", language, "outcome", outcome)
        .serviceLevelObjectives(EXECUTION_BUCKETS)
        .register(registry)
        .record(Duration.ofNanos(nanos));
  }

  /**
   * How long an execution waited for its sandbox; {@code source}: pool (a warm one) or new (none
   * was ready, one was started for it).
   */
  public void sandboxWait(String language, String source, long nanos) {
    Timer.builder("kubecoderun.sandbox.wait")
        .description("Wait for a sandbox, by language and where it came from")
        .tags("language", language, "source", source)
        .serviceLevelObjectives(WAIT_BUCKETS)
        .register(registry)
        .record(Duration.ofNanos(nanos));
  }

  /** How long an execution waited for one of the MAX_CONCURRENT_EXECUTIONS slots. */
  public void slotWait(long nanos) {
    Timer.builder("kubecoderun.execution.slot.wait")
        .description("Wait for an execution slot (MAX_CONCURRENT_EXECUTIONS)")
        .serviceLevelObjectives(WAIT_BUCKETS)
        .register(registry)
        .record(Duration.ofNanos(nanos));
  }

  /** One sandbox start; {@code kind}: warm (for the pool) or on_demand; outcome ok or failed. */
  public void sandboxStart(String language, String kind, boolean ok, long nanos) {
    Timer.builder("kubecoderun.sandbox.start")
        .description("Sandbox start-up until ready, by language, kind and outcome")
        .tags("language", language, "kind", kind, "outcome", ok ? "ok" : "failed")
        .serviceLevelObjectives(WAIT_BUCKETS)
        .register(registry)
        .record(Duration.ofNanos(nanos));
  }

  /** Gauges of one pool, read when scraped. */
  public void pool(
      String language,
      Supplier<Number> size,
      Supplier<Number> ready,
      Supplier<Number> inUse,
      Supplier<Number> starting) {
    gauge("kubecoderun.pool.size", "Warm sandboxes the pool aims to keep", language, size);
    gauge("kubecoderun.pool.ready", "Warm sandboxes ready to be taken", language, ready);
    gauge("kubecoderun.pool.in.use", "Sandboxes running an execution", language, inUse);
    gauge("kubecoderun.pool.starting", "Sandboxes being started", language, starting);
  }

  /** Gauges of the execution slots. */
  public void slots(Supplier<Number> inUse, int capacity) {
    Gauge.builder("kubecoderun.execution.slots.in.use", inUse)
        .description("Execution slots taken")
        .register(registry);
    Gauge.builder("kubecoderun.execution.slots.capacity", () -> capacity)
        .description("Execution slots (MAX_CONCURRENT_EXECUTIONS)")
        .register(registry);
  }

  /** Gauges of the memory budget of buffered requests (REQUEST_MEMORY_BUDGET_MB). */
  public void requestMemory(Supplier<Number> held, long capacity, Supplier<Number> waiting) {
    Gauge.builder("kubecoderun.request.memory.held.bytes", held)
        .description("Bytes reserved by requests for their buffered bodies and states")
        .register(registry);
    Gauge.builder("kubecoderun.request.memory.capacity.bytes", () -> capacity)
        .description("The budget of buffered request data (REQUEST_MEMORY_BUDGET_MB)")
        .register(registry);
    Gauge.builder("kubecoderun.request.memory.waiting", waiting)
        .description("Requests waiting for room in that budget")
        .register(registry);
  }

  private void gauge(String name, String help, String language, Supplier<Number> value) {
    Gauge.builder(name, value).description(help).tag("language", language).register(registry);
  }

  public void filesUploaded(int files, long bytes) {
    Counter.builder("kubecoderun.files.uploaded")
        .description("Files uploaded (/upload)")
        .register(registry)
        .increment(files);
    Counter.builder("kubecoderun.files.uploaded.bytes")
        .baseUnit("bytes")
        .description("Bytes of uploaded files")
        .register(registry)
        .increment(bytes);
  }

  /** One download; {@code bytes} is what was sent (a range, or nothing for HEAD). */
  public void fileDownloaded(long bytes) {
    Counter.builder("kubecoderun.files.downloaded")
        .description("Files downloaded (/download)")
        .register(registry)
        .increment();
    Counter.builder("kubecoderun.files.downloaded.bytes")
        .baseUnit("bytes")
        .description("Bytes of downloaded files sent")
        .register(registry)
        .increment(bytes);
  }

  /** A store that failed or could not be reached: redis, s3 or local. */
  public void storeError(String store) {
    Counter.builder("kubecoderun.store.errors")
        .description("Failed store operations by store")
        .tag("store", store)
        .register(registry)
        .increment();
  }

  /** An execution that usage could not record (its store failed): missing from the figures. */
  public void usageRecordLost() {
    Counter.builder("kubecoderun.usage.records.lost")
        .description("Executions missing from usage: their record failed")
        .register(registry)
        .increment();
  }

  private static Duration[] durations(long... millis) {
    Duration[] out = new Duration[millis.length];
    for (int i = 0; i < millis.length; i++) {
      out[i] = Duration.ofMillis(millis[i]);
    }
    return out;
  }

  @Override
  public void close() {
    if (gc != null) {
      gc.close();
    }
    registry.close();
  }
}
