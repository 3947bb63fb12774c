package dev.kubecoderun.api;

import io.helidon.http.Method;
import java.util.List;
import java.util.Set;
import java.util.regex.Pattern;

/** The route table's shapes, to answer 405 (known path, other method) rather than 404. */
final class Routes {
  private record Shape(Pattern path, Set<Method> methods) {}

  private static final String ID = "[^/]+";
  private static final List<Shape> SHAPES =
      List.of(
          shape("/exec", Method.POST),
          shape("/languages", Method.GET),
          shape("/upload", Method.POST),
          shape("/upload/batch", Method.POST),
          shape("/files/" + ID, Method.GET),
          shape("/files/" + ID + "/" + ID, Method.DELETE),
          shape("/download/" + ID + "/" + ID, Method.GET, Method.HEAD, Method.OPTIONS),
          shape("/sessions/" + ID + "/objects/" + ID, Method.GET),
          shape("/state/" + ID, Method.GET, Method.POST, Method.DELETE),
          shape("/state/" + ID + "/info", Method.GET),
          shape("/health", Method.GET),
          shape("/health/detailed", Method.GET),
          shape("/ready", Method.GET));

  private Routes() {}

  private static Shape shape(String regex, Method... methods) {
    return new Shape(Pattern.compile(regex), Set.of(methods));
  }

  /** The path without the optional /v1 prefix (LibreChat's base URL ends in /v1). */
  static String withoutVersion(String path) {
    if (path.equals("/v1")) {
      return "/";
    }
    return path.startsWith("/v1/") ? path.substring(3) : path;
  }

  /** 405 when some route has this path with another method, else 404. */
  static ApiError unmatched(Method method, String rawPath) {
    String path = withoutVersion(rawPath);
    for (Shape s : SHAPES) {
      if (s.path().matcher(path).matches() && !s.methods().contains(method)) {
        return new ApiError(405, "Method " + method.text() + " is not allowed on " + rawPath)
            .header(
                "Allow",
                String.join(", ", s.methods().stream().map(Method::text).sorted().toList()));
      }
    }
    return new ApiError(404, "Not found: " + rawPath);
  }
}
