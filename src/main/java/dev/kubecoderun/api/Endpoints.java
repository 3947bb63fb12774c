package dev.kubecoderun.api;

import dev.kubecoderun.admin.KeyAdmin;
import dev.kubecoderun.admin.Usage;
import dev.kubecoderun.auth.ClientAddress;
import dev.kubecoderun.auth.CredentialThrottle;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.execution.ExecutionService;
import dev.kubecoderun.execution.ProgrammaticService;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.language.LanguageCatalog;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.SandboxPool;
import dev.kubecoderun.session.SessionResolver;
import dev.kubecoderun.state.StateStore;
import dev.kubecoderun.state.StateWrites;
import io.helidon.health.HealthCheck;
import io.helidon.webserver.http.HttpService;
import java.time.Clock;
import java.util.List;
import java.util.function.Supplier;

/** The API's HTTP services, built from the components the wiring class made. */
public final class Endpoints {
  private Endpoints() {}

  /**
   * The operator's side: metrics, usage, key management and the live state it reports; {@code
   * throttle} counts wrong master keys and metrics tokens (the same as the API-key filter's) per
   * address as {@code clients} derives it.
   */
  public record Operations(
      Metrics metrics,
      Usage usage,
      KeyAdmin keys,
      SandboxPool pool,
      ExecutionSlots slots,
      CredentialThrottle throttle,
      ClientAddress clients) {}

  /** The API's HTTP services; {@code programmatic} serves /exec/programmatic. */
  public static List<HttpService> all(
      ExecutionService executions,
      ProgrammaticService programmatic,
      LanguageCatalog languages,
      FileService files,
      SessionResolver sessions,
      StateStore states,
      StateWrites stateWrites,
      Clock clock,
      Config config,
      String version,
      Supplier<String> notReady,
      List<HealthCheck> checks,
      Operations ops) {
    MasterKey master =
        new MasterKey(
            ops.throttle(), ops.clients(), ops.metrics(), config.operations().masterKey());
    // One cache for /health/detailed and the admin stats: the dashboard polls the latter.
    HealthReports health = new HealthReports(checks, config.operations().healthCacheMaxAge());
    return List.of(
        new HealthEndpoint(version, notReady, health, !master.enabled()),
        new ExecEndpoint(
            executions,
            config.limits().maxJsonBodyBytes(),
            config.limits().maxExecFiles(),
            ops.metrics(),
            ops.usage()),
        new ProgrammaticEndpoint(
            programmatic,
            config.limits().maxJsonBodyBytes(),
            config.limits().maxExecFiles(),
            ops.metrics(),
            ops.usage()),
        new LanguagesEndpoint(languages),
        new UploadEndpoint(
            files,
            sessions,
            config.limits().maxFileSizeBytes(),
            config.limits().maxFilesPerRequest(),
            config.limits().maxFormFields(),
            config.limits().maxSessionFiles(),
            config.limits().maxSessionStorageBytes(),
            ops.metrics()),
        new FilesEndpoint(
            files, sessions, clock, config.server().downloadSendTimeout(), ops.metrics()),
        new StateEndpoint(
            states,
            stateWrites,
            sessions,
            config.state().maxBytes(),
            config.redis().enabled() ? "redis" : "local"),
        new AdminKeysEndpoint(master, ops.keys()),
        new AdminUsageEndpoint(master, ops.usage(), ops.keys(), ops.pool(), ops.slots(), health),
        new MetricsEndpoint(
            ops.metrics(),
            new MasterKey(
                ops.throttle(),
                ops.clients(),
                ops.metrics(),
                config.operations().metricsToken(),
                config.operations().masterKey()),
            config.operations().metricsPublic()),
        new DashboardEndpoint(master, config.operations().dashboardEnabled()),
        new DocsEndpoint(config.operations().docsEnabled(), version));
  }
}
