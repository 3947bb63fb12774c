package dev.kubecoderun.api;

import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Files served from the jar (the dashboard, Swagger UI): a flat folder of resources, names checked
 * against a strict pattern so a request never leaves that folder. They never change while the
 * process runs, so the browser may keep them a while.
 */
final class StaticFiles {
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,100}");
  private static final Map<String, String> TYPES =
      Map.of(
          "html", "text/html; charset=utf-8",
          "js", "text/javascript; charset=utf-8",
          "css", "text/css; charset=utf-8",
          "svg", "image/svg+xml",
          "png", "image/png",
          "json", "application/json");

  /**
   * Swagger UI's policy: nothing but this origin. Its own stylesheet uses data: images, and it sets
   * style attributes (hence 'unsafe-inline' for styles).
   */
  static final String DOCS_CSP =
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
          + " object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

  /**
   * The dashboard's policy, stricter: it holds the master key, and needs only its own script,
   * stylesheet and icon and the admin API (no inline style or script, no data: URL, no form sent
   * anywhere). Its script may set element.style (the CSSOM is not an inline style), but never a
   * style attribute.
   */
  static final String DASHBOARD_CSP =
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
          + " connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

  private StaticFiles() {}

  /** Sends {@code root/name} under the policy {@code csp}, or 404 when there is no such file. */
  static void send(ServerResponse res, String root, String name, String csp) {
    String ext = name.substring(name.lastIndexOf('.') + 1);
    if (!NAME.matcher(name).matches() || name.contains("..") || !TYPES.containsKey(ext)) {
      throw ApiError.notFound("Not found: " + name);
    }
    try (InputStream in = StaticFiles.class.getResourceAsStream("/" + root + "/" + name)) {
      if (in == null) {
        throw ApiError.notFound("Not found: " + name);
      }
      byte[] bytes = in.readAllBytes();
      res.header(HeaderNames.CONTENT_TYPE, TYPES.get(ext));
      res.header(HeaderNames.CACHE_CONTROL, ext.equals("html") ? "no-cache" : "max-age=3600");
      res.header("Content-Security-Policy", csp);
      res.send(bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
