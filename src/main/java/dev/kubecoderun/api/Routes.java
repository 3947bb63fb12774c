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
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
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
  private final List<String> templates;
  private final Map<HttpRoute, String> paths;

  private Routes(List<HttpRoute> routes, List<String> templates, Map<HttpRoute, String> paths) {
    this.routes = routes;
    this.templates = templates;
    this.paths = paths;
  }

  /** Asks each service for its routes, as Helidon does when it registers the service. */
  static Routes of(List<HttpService> services) {
    Recorder recorder = new Recorder();
    services.forEach(s -> s.routing(recorder));
    return new Routes(
        List.copyOf(recorder.routes),
        List.copyOf(recorder.templates),
        new IdentityHashMap<>(recorder.paths));
  }

  /**
   * The path template of the route that takes this request ("/files/{session_id}"), with or without
   * the /v1 prefix; null when no route has the path. Also for requests a filter answered before
   * routing (401, 429).
   */
  String template(Method method, String rawPath) {
    UriPath path = UriPath.create(withoutVersion(rawPath));
    HttpPrologue asked =
        HttpPrologue.create(
            "HTTP/1.1", "HTTP", "1.1", method, path, UriQuery.empty(), UriFragment.empty());
    for (HttpRoute r : routes) {
      if (r.accepts(asked).accepted()) {
        return paths.get(r);
      }
    }
    return null;
  }

  /** Every route as "METHOD /path/{param}" (what GET /openapi.json must describe). */
  List<String> templates() {
    return templates;
  }

  /** Routes registered other than by method and path pattern (none, or templates() misses some). */
  int untemplated() {
    return routes.size() - templates.size();
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
    final List<String> templates = new ArrayList<>();
    final Map<HttpRoute, String> paths = new IdentityHashMap<>();
    private String pattern;

    /** Where get(path, handler) and the like arrive, with the pattern still readable. */
    @Override
    public HttpRules route(Method method, String pathPattern, io.helidon.webserver.http.Handler h) {
      templates.add(method.text() + " " + pathPattern);
      pattern = pathPattern;
      try {
        return HttpRules.super.route(method, pathPattern, h);
      } finally {
        pattern = null;
      }
    }

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
      if (pattern != null) {
        paths.put(route, pattern);
      }
      return this;
    }
  }
}
