package dev.kubecoderun.api;

import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

/**
 * The operator's dashboard at /admin-dashboard: static files from the jar (no build step, no CDN).
 * The page holds no data: it asks for the master key and reads everything from the admin API with
 * it. Off (404) without MASTER_API_KEY, or with ADMIN_DASHBOARD_ENABLED=false.
 */
final class DashboardEndpoint implements HttpService {
  private static final String ROOT = "dashboard";

  private final MasterKey master;
  private final boolean enabled;

  DashboardEndpoint(MasterKey master, boolean enabled) {
    this.master = master;
    this.enabled = enabled;
  }

  @Override
  public void routing(HttpRules rules) {
    rules
        .get("/admin-dashboard", this::redirect)
        .get("/admin-dashboard/", this::index)
        .get("/admin-dashboard/{file}", this::file);
  }

  /** Relative links of the page resolve under the folder, so the address ends with '/'. */
  private void redirect(ServerRequest req, ServerResponse res) {
    requireOn();
    boolean versioned = req.prologue().uriPath().path().startsWith("/v1/");
    res.status(Status.MOVED_PERMANENTLY_301);
    res.header(HeaderNames.LOCATION, (versioned ? "/v1" : "") + "/admin-dashboard/");
    res.send();
  }

  private void index(ServerRequest req, ServerResponse res) {
    requireOn();
    StaticFiles.send(res, ROOT, "index.html", StaticFiles.DASHBOARD_CSP);
  }

  private void file(ServerRequest req, ServerResponse res) {
    requireOn();
    StaticFiles.send(res, ROOT, req.path().pathParameters().get("file"), StaticFiles.DASHBOARD_CSP);
  }

  private void requireOn() {
    if (!master.enabled() || !enabled) {
      throw ApiError.notFound(
          "The dashboard is off: MASTER_API_KEY is not set or ADMIN_DASHBOARD_ENABLED=false");
    }
  }
}
