package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.kubecoderun.common.Json;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Properties;

/**
 * GET /openapi.json, the OpenAPI 3.1 description of the API (written by hand in
 * src/main/resources/openapi/openapi.yaml; OpenApiRoutesTest checks it against the routes the
 * services register, OpenApiContract every answer the integration tests get), and GET /docs,
 * Swagger UI on it (from the swagger-ui webjar in the jar). No key: the description is public. Off
 * with ENABLE_DOCS=false.
 */
final class DocsEndpoint implements HttpService {
  private static final String WEBJAR = "META-INF/resources/webjars/swagger-ui/" + swaggerVersion();

  private final boolean enabled;
  private final byte[] document;

  DocsEndpoint(boolean enabled, String version) {
    this.enabled = enabled;
    this.document = enabled ? Json.write(document(version)) : null;
  }

  /** The document, with the running version in {@code info.version}. */
  static JsonNode document(String version) {
    try (InputStream in = DocsEndpoint.class.getResourceAsStream("/openapi/openapi.yaml")) {
      JsonNode doc = new ObjectMapper(new YAMLFactory()).readTree(in);
      ((com.fasterxml.jackson.databind.node.ObjectNode) doc.get("info")).put("version", version);
      return doc;
    } catch (IOException | NullPointerException e) {
      throw new IllegalStateException("openapi/openapi.yaml is missing from the build", e);
    }
  }

  @Override
  public void routing(HttpRules rules) {
    rules
        .get("/openapi.json", this::openapi)
        .get("/docs", this::redirect)
        .get("/docs/", this::page)
        .get("/docs/{file}", this::file);
  }

  private void openapi(ServerRequest req, ServerResponse res) {
    requireOn();
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.header("Access-Control-Allow-Origin", "*");
    res.send(document);
  }

  private void redirect(ServerRequest req, ServerResponse res) {
    requireOn();
    boolean versioned = req.prologue().uriPath().path().startsWith("/v1/");
    res.status(Status.MOVED_PERMANENTLY_301);
    res.header(HeaderNames.LOCATION, (versioned ? "/v1" : "") + "/docs/");
    res.send();
  }

  private void page(ServerRequest req, ServerResponse res) {
    requireOn();
    StaticFiles.send(res, "docs", "index.html", StaticFiles.DOCS_CSP);
  }

  /** Our start-up script, or a file of Swagger UI. */
  private void file(ServerRequest req, ServerResponse res) {
    requireOn();
    String name = req.path().pathParameters().get("file");
    StaticFiles.send(res, name.equals("docs.js") ? "docs" : WEBJAR, name, StaticFiles.DOCS_CSP);
  }

  private void requireOn() {
    if (!enabled) {
      throw ApiError.notFound("The API description is off (ENABLE_DOCS=false)");
    }
  }

  private static String swaggerVersion() {
    Properties p = new Properties();
    try (InputStream in =
        DocsEndpoint.class.getResourceAsStream(
            "/META-INF/maven/org.webjars/swagger-ui/pom.properties")) {
      p.load(in);
    } catch (IOException | NullPointerException e) {
      throw new UncheckedIOException(
          new IOException("the swagger-ui webjar is missing from the classpath", e));
    }
    return p.getProperty("version");
  }
}
