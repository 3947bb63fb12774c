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
   * The pages' policy: nothing but this origin. Swagger UI's own stylesheet uses data: images, and
   * it sets style attributes.
   */
  static final String CSP =
      "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline';"
          + " object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

  private StaticFiles() {}

  /** Sends {@code root/name}, or 404 when there is no such file. */
  static void send(ServerResponse res, String root, String name) {
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
      res.header("Content-Security-Policy", CSP);
      res.send(bytes);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
