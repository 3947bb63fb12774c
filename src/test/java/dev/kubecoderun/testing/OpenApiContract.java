package dev.kubecoderun.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * GET /openapi.json's document (read from its source, src/main/resources/openapi/openapi.yaml) as a
 * test oracle: the routes it describes, and a check of a real answer against the description of its
 * route and status, its JSON body validated with the document's own schemas (JSON Schema 2020-12,
 * as OpenAPI 3.1 uses it).
 */
public final class OpenApiContract {
  private static final Path SOURCE = Path.of("src/main/resources/openapi/openapi.yaml");
  private static final Set<String> METHODS =
      Set.of("get", "put", "post", "delete", "options", "head", "patch", "trace");
  private static OpenApiContract shared;

  private final JsonNode doc;
  private final List<Template> templates = new ArrayList<>();
  private final JsonSchemaFactory factory =
      JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
  private final Map<String, JsonSchema> schemas = new ConcurrentHashMap<>();

  private record Template(String path, Pattern pattern, int literals) {}

  private OpenApiContract(JsonNode doc) {
    this.doc = doc;
    for (Iterator<String> it = doc.get("paths").fieldNames(); it.hasNext(); ) {
      String p = it.next();
      String regex = Pattern.quote(p).replaceAll("\\{[^}/]+}", "\\\\E[^/]+\\\\Q");
      templates.add(
          new Template(p, Pattern.compile(regex), p.replaceAll("\\{[^}/]+}", "").length()));
    }
    // The most specific template first: /usage/live before /keys/{key_hash}.
    templates.sort(Comparator.comparingInt(Template::literals).reversed());
  }

  public static synchronized OpenApiContract shared() {
    if (shared == null) {
      try {
        shared = new OpenApiContract(new ObjectMapper(new YAMLFactory()).readTree(SOURCE.toFile()));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return shared;
  }

  public JsonNode document() {
    return doc;
  }

  /** Every operation as "METHOD /path/{param}". */
  public Set<String> routes() {
    Set<String> out = new TreeSet<>();
    for (var p : doc.get("paths").properties()) {
      p.getValue()
          .fieldNames()
          .forEachRemaining(
              m -> {
                if (METHODS.contains(m)) {
                  out.add(m.toUpperCase(Locale.ROOT) + " " + p.getKey());
                }
              });
    }
    return out;
  }

  /**
   * Throws an AssertionError when the answer is not what the document says: an undocumented route
   * or status, or a JSON body its schema refuses.
   */
  public void check(String method, String rawPath, int status, String contentType, byte[] body) {
    String path =
        rawPath.equals("/v1") ? "/" : rawPath.startsWith("/v1/") ? rawPath.substring(3) : rawPath;
    String where = method + " " + rawPath + " -> " + status;
    Template t =
        templates.stream()
            .filter(x -> x.pattern().matcher(path).matches())
            .findFirst()
            .orElse(null);
    if (t == null) {
      // An unknown path: the answer must be the error shape.
      if (status == 404 || status == 405) {
        validate(where, ref("#/components/schemas/Error"), contentType, body);
        return;
      }
      throw new AssertionError(where + ": no path of the OpenAPI document matches");
    }
    JsonNode op = doc.get("paths").get(t.path()).get(method.toLowerCase(Locale.ROOT));
    if (op == null) {
      if (status == 405 || status == 401) {
        validate(where, ref("#/components/schemas/Error"), contentType, body);
        return;
      }
      throw new AssertionError(where + ": " + t.path() + " has no " + method + " operation");
    }
    JsonNode response = op.get("responses").get(Integer.toString(status));
    if (response == null && status >= 400) {
      response = op.get("responses").get("default");
      if (response == null && (status == 401 || status == 429 || status == 503)) {
        // Authentication, rate limits and overload apply to every route the same way.
        response =
            doc.at(
                status == 429
                    ? "/components/responses/RateLimited"
                    : "/components/responses/Error");
      }
    }
    if (response == null) {
      throw new AssertionError(where + ": status " + status + " is not documented for " + t.path());
    }
    if (response.has("$ref")) {
      response = doc.at(response.get("$ref").asText().substring(1));
    }
    boolean json = contentType != null && contentType.toLowerCase(Locale.ROOT).contains("json");
    JsonNode content = response.get("content");
    if (!json || method.equals("HEAD") || body.length == 0) {
      return;
    }
    if (content != null && !content.has("application/json") && content.has("*/*")) {
      return; // any type, e.g. a download of a .json file: its bytes, not a document's JSON
    }
    if (content == null || !content.has("application/json")) {
      throw new AssertionError(where + ": a JSON body the document does not describe");
    }
    validate(where, content.get("application/json").get("schema"), contentType, body);
  }

  private static JsonNode ref(String pointer) {
    return new ObjectMapper().createObjectNode().put("$ref", pointer);
  }

  private void validate(String where, JsonNode schema, String contentType, byte[] body) {
    if (contentType == null || !contentType.contains("json")) {
      throw new AssertionError(where + ": expected a JSON body, got " + contentType);
    }
    JsonNode value;
    try {
      value = new ObjectMapper().readTree(body);
    } catch (IOException e) {
      throw new AssertionError(where + ": not JSON: " + new String(body), e);
    }
    JsonSchema s = schemas.computeIfAbsent(schema.toString(), k -> compile(schema));
    Set<ValidationMessage> errors = s.validate(value);
    if (!errors.isEmpty()) {
      String shown = value.toString();
      throw new AssertionError(
          where
              + ": the body does not match the OpenAPI schema: "
              + errors.stream().limit(8).toList()
              + "\nbody: "
              + shown.substring(0, Math.min(2000, shown.length())));
    }
  }

  /** The schema with the document's components beside it, so its $refs resolve. */
  private JsonSchema compile(JsonNode schema) {
    ObjectNode root = new ObjectMapper().createObjectNode();
    root.put("$schema", "https://json-schema.org/draft/2020-12/schema");
    root.set("components", doc.get("components"));
    root.set("allOf", new ObjectMapper().createArrayNode().add(schema));
    return factory.getSchema(root);
  }
}
