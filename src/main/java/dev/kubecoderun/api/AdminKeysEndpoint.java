package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.admin.KeyAdmin;
import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.RateWindow;
import dev.kubecoderun.common.Json;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The admin API's managed keys (master key only), with the Python version's routes and fields:
 * list, create (the secret in this one answer), show, change (name, enabled, rate limits) and
 * revoke. A change takes effect on the key's next request, on every replica.
 */
final class AdminKeysEndpoint implements HttpService {
  static final String PREFIX = "/api/v1/admin";
  private static final Pattern KEY_HASH = Pattern.compile("[0-9a-f]{64}");
  private static final long MAX_BODY = 64 * 1024;
  private static final int MAX_NAME = 200;
  private static final int MAX_METADATA = 32;
  private static final int MAX_METADATA_TEXT = 512;
  private static final List<String> CREATE_FIELDS = List.of("name", "rate_limits", "metadata");
  private static final List<String> UPDATE_FIELDS = List.of("name", "enabled", "rate_limits");
  private static final List<String> WINDOWS =
      Arrays.stream(RateWindow.values()).map(RateWindow::label).toList();
  // The body is bounded (MAX_BODY), but each unknown field costs a detail: the first few say it.
  private static final int MAX_UNKNOWN_DETAILS = 10;

  private final MasterKey master;
  private final KeyAdmin keys;

  AdminKeysEndpoint(MasterKey master, KeyAdmin keys) {
    this.master = master;
    this.keys = keys;
  }

  @Override
  public void routing(HttpRules rules) {
    rules
        .get(PREFIX + "/keys", this::list)
        .post(PREFIX + "/keys", this::create)
        .get(PREFIX + "/keys/{key_hash}", this::show)
        .patch(PREFIX + "/keys/{key_hash}", this::update)
        .delete(PREFIX + "/keys/{key_hash}", this::revoke);
  }

  private void list(ServerRequest req, ServerResponse res) {
    master.require(req);
    send(res, keys.listWithUse().stream().map(AdminKeysEndpoint::view).toList());
  }

  private void create(ServerRequest req, ServerResponse res) {
    master.require(req);
    JsonNode body = object(req);
    onlyKnown(body, CREATE_FIELDS, "");
    String name = Fields.requiredString(body, "name");
    if (name.isBlank() || name.length() > MAX_NAME) {
      throw ApiError.validation(
          "name", "name must be 1-" + MAX_NAME + " characters", "string_length");
    }
    Map<RateWindow, Long> limits = limits(body.get("rate_limits"));
    KeyAdmin.Created created =
        keys.create(name.strip(), limits == null ? Map.of() : limits, metadata(body));
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("api_key", created.apiKey());
    out.put("record", view(new KeyAdmin.Key(created.record(), "managed")));
    send(res, out); // the secret is in this body: no-store, as every answer of the admin API
  }

  private void show(ServerRequest req, ServerResponse res) {
    master.require(req);
    send(res, view(keys.findWithUse(keyHash(req)).orElseThrow(AdminKeysEndpoint::notFound)));
  }

  private void update(ServerRequest req, ServerResponse res) {
    master.require(req);
    String hash = keyHash(req);
    JsonNode body = object(req);
    onlyKnown(body, UPDATE_FIELDS, "");
    String name = Fields.optionalString(body, "name");
    // An empty name is refused like a blank one (optionalString reads "" as absent).
    boolean emptyName = name == null && body.path("name").isTextual();
    if (emptyName || name != null && (name.isBlank() || name.length() > MAX_NAME)) {
      throw ApiError.validation(
          "name", "name must be 1-" + MAX_NAME + " characters", "string_length");
    }
    Boolean enabled = null;
    JsonNode e = body.get("enabled");
    if (e != null && !e.isNull()) {
      if (!e.isBoolean()) {
        throw ApiError.validation("enabled", "Input should be a valid boolean", "bool_type");
      }
      enabled = e.asBoolean();
    }
    JsonNode l = body.get("rate_limits");
    Map<RateWindow, Long> limits = l == null || l.isNull() ? null : limits(l);
    if (name == null && enabled == null && limits == null) {
      // 200 for a change of nothing would hide a mistake (all fields null, or an empty body).
      throw ApiError.validation(
          "body", "Give at least one of name, enabled, rate_limits", "missing");
    }
    outcome(keys.update(hash, name == null ? null : name.strip(), enabled, limits), "modified");
    send(res, true);
  }

  private void revoke(ServerRequest req, ServerResponse res) {
    master.require(req);
    outcome(keys.revoke(keyHash(req)), "revoked");
    send(res, true);
  }

  private static void outcome(KeyAdmin.Outcome o, String verb) {
    switch (o) {
      case DONE -> {}
      case NOT_FOUND -> throw notFound();
      case ENVIRONMENT ->
          throw new ApiError(
              403,
              "Environment keys cannot be "
                  + verb
                  + ". Update the API_KEY environment variable instead.");
    }
  }

  private static ApiError notFound() {
    return ApiError.notFound("Key not found");
  }

  private static String keyHash(ServerRequest req) {
    String h = req.path().pathParameters().get("key_hash");
    if (!KEY_HASH.matcher(h).matches()) {
      throw notFound();
    }
    return h;
  }

  private static JsonNode object(ServerRequest req) {
    JsonNode body = JsonBody.read(req, MAX_BODY).tree();
    if (!body.isObject()) {
      throw ApiError.validation("body", "Request body must be a JSON object", "type_error");
    }
    return body;
  }

  /**
   * {@code {per_second?, per_minute?, hourly?, daily?, monthly?}}: a positive whole number or null;
   * any other window is refused.
   */
  private static Map<RateWindow, Long> limits(JsonNode node) {
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isObject()) {
      throw ApiError.validation("rate_limits", "rate_limits must be an object", "type_error");
    }
    // An unknown window ("per_hour") would otherwise leave the key unlimited in that window.
    onlyKnown(node, WINDOWS, "rate_limits.");
    Map<RateWindow, Long> out = new EnumMap<>(RateWindow.class);
    for (RateWindow w : RateWindow.values()) {
      JsonNode v = node.get(w.label());
      if (v == null || v.isNull()) {
        continue;
      }
      if (!v.canConvertToLong() || !v.isIntegralNumber() || v.asLong() < 1) {
        throw ApiError.validation(
            "rate_limits." + w.label(),
            "must be a whole number of at least 1, or null",
            "int_type");
      }
      out.put(w, v.asLong());
    }
    return out;
  }

  /**
   * Refuses the fields of {@code obj} not in {@code known} (their names prefixed with {@code
   * prefix} in the details): a misspelt field ({@code {"enable": false}}) is an error, never
   * silently nothing.
   */
  private static void onlyKnown(JsonNode obj, List<String> known, String prefix) {
    List<ApiError.Detail> unknown = new ArrayList<>();
    for (Iterator<String> it = obj.fieldNames(); it.hasNext(); ) {
      String f = it.next();
      if (!known.contains(f) && unknown.size() < MAX_UNKNOWN_DETAILS) {
        unknown.add(
            new ApiError.Detail(
                prefix + f,
                "Unknown field; expected one of " + String.join(", ", known),
                "extra_forbidden"));
      }
    }
    if (!unknown.isEmpty()) {
      throw new ApiError(422, "validation", "Request validation failed", unknown);
    }
  }

  private static Map<String, String> metadata(JsonNode body) {
    JsonNode m = body.get("metadata");
    if (m == null || m.isNull()) {
      return Map.of();
    }
    if (!m.isObject() || m.size() > MAX_METADATA) {
      throw ApiError.validation(
          "metadata",
          "metadata must be an object of at most " + MAX_METADATA + " strings",
          "type_error");
    }
    Map<String, String> out = new LinkedHashMap<>();
    for (var e : m.properties()) {
      if (!e.getValue().isTextual()
          || e.getKey().length() > MAX_METADATA_TEXT
          || e.getValue().asText().length() > MAX_METADATA_TEXT) {
        throw ApiError.validation(
            "metadata." + e.getKey(),
            "metadata values must be strings of at most " + MAX_METADATA_TEXT + " characters",
            "string_type");
      }
      out.put(e.getKey(), e.getValue().asText());
    }
    return out;
  }

  /** The Python version's ApiKeyResponse. */
  static Map<String, Object> view(KeyAdmin.Key k) {
    ApiKeyRecord r = k.record();
    Map<String, Object> limits = new LinkedHashMap<>();
    for (RateWindow w : RateWindow.values()) {
      limits.put(w.label(), r.limits().get(w));
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("key_hash", r.keyHash());
    out.put("key_prefix", r.keyPrefix());
    out.put("name", r.name());
    out.put("created_at", r.createdAt() == null ? null : r.createdAt().toString());
    out.put("enabled", r.enabled());
    out.put("rate_limits", limits);
    out.put("metadata", r.metadata());
    out.put("last_used_at", r.lastUsedAt() == null ? null : r.lastUsedAt().toString());
    out.put("usage_count", r.usageCount());
    out.put("source", k.source());
    return out;
  }

  /**
   * An answer of the admin API: read with the master key in a header that is not Authorization
   * (X-API-Key), which no cache takes for a credential, so every answer says no cache may keep it
   * (a new key's secret, the keys and their use).
   */
  static void send(ServerResponse res, Object body) {
    res.header("Cache-Control", "no-store");
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(body));
  }
}
