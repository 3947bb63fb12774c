package dev.kubecoderun.api;

import io.helidon.common.uri.UriFragment;
import io.helidon.common.uri.UriPath;
import io.helidon.common.uri.UriQuery;
import io.helidon.http.HttpPrologue;
import io.helidon.http.Method;
import io.helidon.webserver.http.HttpRoute;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * The routes the services register, recorded from their own {@code routing} (the table Helidon
 * routes by), to answer 405 (known path, other method) rather than 404.
 */
final class Routes {
  private static final List<Method> METHODS =
      List.of(
          Method.GET,
          Method.HEAD,
          Method.POST,
          Method.PUT,
          Method.DELETE,
          Method.OPTIONS,
          Method.PATCH,
          Method.TRACE);

  private final List<HttpRoute> routes;

  private Routes(List<HttpRoute> routes) {
    this.routes = routes;
  }

  /** Asks each service for its routes, as Helidon does when it registers the service. */
  static Routes of(List<HttpService> services) {
    Recorder recorder = new Recorder();
    services.forEach(s -> s.routing(recorder));
    return new Routes(List.copyOf(recorder.routes));
  }

  /** The path without the optional /v1 prefix (LibreChat's base URL ends in /v1). */
  static String withoutVersion(String path) {
    if (path.equals("/v1")) {
      return "/";
    }
    return path.startsWith("/v1/") ? path.substring(3) : path;
  }

  /** 405 when some route has this path with another method, else 404. */
  ApiError unmatched(Method method, String rawPath) {
    UriPath path = UriPath.create(withoutVersion(rawPath));
    TreeSet<String> allowed = new TreeSet<>();
    for (Method m : METHODS) {
      HttpPrologue asked =
          HttpPrologue.create(
              "HTTP/1.1", "HTTP", "1.1", m, path, UriQuery.empty(), UriFragment.empty());
      if (routes.stream().anyMatch(r -> r.accepts(asked).accepted())) {
        allowed.add(m.text());
      }
    }
    if (allowed.isEmpty() || allowed.contains(method.text())) {
      return new ApiError(404, "Not found: " + rawPath);
    }
    return new ApiError(405, "Method " + method.text() + " is not allowed on " + rawPath)
        .header("Allow", String.join(", ", allowed));
  }

  /** Keeps the routes a service registers; nothing is served from it. */
  private static final class Recorder implements HttpRules {
    final List<HttpRoute> routes = new ArrayList<>();

    @Override
    public HttpRules register(HttpService... services) {
      for (HttpService s : services) {
        s.routing(this);
      }
      return this;
    }

    @Override
    public HttpRules register(String path, HttpService... services) {
      throw new UnsupportedOperationException("services are registered at the root and /v1 only");
    }

    @Override
    public HttpRules route(HttpRoute route) {
      routes.add(route);
      return this;
    }
  }
}
