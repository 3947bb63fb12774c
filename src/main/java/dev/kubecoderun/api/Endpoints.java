package dev.kubecoderun.api;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.execution.ExecutionService;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.language.LanguageCatalog;
import dev.kubecoderun.session.SessionResolver;
import dev.kubecoderun.state.StateStore;
import io.helidon.health.HealthCheck;
import io.helidon.webserver.http.HttpService;
import java.time.Clock;
import java.util.List;
import java.util.function.BooleanSupplier;

/** The API's HTTP services, built from the components the wiring class made. */
public final class Endpoints {
  private Endpoints() {}

  public static List<HttpService> all(
      ExecutionService executions,
      LanguageCatalog languages,
      FileService files,
      SessionResolver sessions,
      StateStore states,
      Clock clock,
      Config config,
      String version,
      BooleanSupplier ready,
      List<HealthCheck> checks) {
    return List.of(
        new HealthEndpoint(version, ready, checks),
        new ExecEndpoint(
            executions, config.limits().maxJsonBodyBytes(), config.limits().maxExecFiles()),
        new LanguagesEndpoint(languages),
        new UploadEndpoint(
            files,
            sessions,
            config.limits().maxFileSizeBytes(),
            config.limits().maxFilesPerRequest(),
            config.limits().maxFormFields()),
        new FilesEndpoint(files, sessions, clock, config.server().downloadSendTimeout()),
        new StateEndpoint(
            states,
            sessions,
            config.state().maxBytes(),
            config.redis().enabled() ? "redis" : "local"));
  }
}
