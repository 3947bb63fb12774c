package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.admin.Usage;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.execution.ExecCommand;
import dev.kubecoderun.execution.ProgrammaticService;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.session.Ids;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * POST /exec/programmatic (start a run whose code calls the client's tools, or continue it with the
 * tools' results) and POST /exec/programmatic/cancel (by the X-LibreChat-Code-Request-ID of a
 * request of the run). See docs: LibreChat reference section 6.
 */
final class ProgrammaticEndpoint implements HttpService {
  private static final io.helidon.http.HeaderName REQUEST_ID =
      HeaderNames.create("X-LibreChat-Code-Request-ID");
  private static final Pattern REQUEST_ID_FORMAT = Pattern.compile("[A-Za-z0-9._:-]{1,128}");
  private static final Pattern TOKEN_FORMAT = Pattern.compile("[0-9a-f]{64}");
  private static final int MAX_TOOLS = 256;
  private static final int MAX_RESULTS = 256;
  private static final long DEFAULT_TIMEOUT_MS = 15_000;
  private static final long MIN_TIMEOUT_MS = 1_000;

  private final ProgrammaticService programmatic;
  private final long maxJsonBytes;
  private final int maxFiles;
  private final ExecutionRecorder recorder;

  ProgrammaticEndpoint(
      ProgrammaticService programmatic,
      long maxJsonBytes,
      int maxFiles,
      Metrics metrics,
      Usage usage) {
    this.programmatic = programmatic;
    this.maxJsonBytes = maxJsonBytes;
    this.maxFiles = maxFiles;
    this.recorder = new ExecutionRecorder(metrics, usage);
  }

  @Override
  public void routing(HttpRules rules) {
    rules.post("/exec/programmatic", this::exec);
    rules.post("/exec/programmatic/cancel", this::cancel);
  }

  /**
   * Who a run and its tokens belong to: the request's principal (an API key, a LibreChat user of a
   * tenant, or the anonymous one when authentication is off). A start reads the same from its
   * command's principal ({@code ProgrammaticService.Start#principal}).
   */
  static String principal(ServerRequest req) {
    return Principals.of(req).user();
  }

  private static String requestId(ServerRequest req) {
    String id = req.headers().first(REQUEST_ID).orElse(null);
    if (id != null && !REQUEST_ID_FORMAT.matcher(id).matches()) {
      throw ApiError.validation(
          "X-LibreChat-Code-Request-ID", "invalid request id", "invalid_request_id");
    }
    return id;
  }

  /**
   * A run counts as one execution, recorded once by the service (see {@link
   * ProgrammaticService.Recorder}), under the principal and request id of its start: when it ends,
   * whether or not a request sees the end, or when it could not start (as /exec's, with the status
   * the client is shown).
   */
  private void exec(ServerRequest req, ServerResponse res) throws InterruptedException {
    JsonNode body = JsonBody.read(req, maxJsonBytes).tree();
    if (!body.isObject()) {
      throw ApiError.validation("body", "Request body must be a JSON object", "type_error");
    }
    String principal = principal(req);
    String requestId = requestId(req);
    if (body.has("continuation_token")) {
      String token = Fields.requiredString(body, "continuation_token");
      if (!TOKEN_FORMAT.matcher(token).matches()) {
        throw ApiError.notFound("Unknown or expired continuation token");
      }
      List<Object> results = results(body);
      ProgrammaticService.Reply reply;
      try {
        reply = programmatic.resume(principal, requestId, token, results, RequestMemory.of(req));
      } catch (RuntimeException e) {
        throw shown(e);
      }
      send(res, reply);
    } else {
      ProgrammaticService.Start start = start(req, body, requestId);
      try {
        // Sent from within: the first batch is paid for until it is.
        programmatic.start(
            start, recorder.forRun(req, ProgrammaticEndpoint::shown), reply -> send(res, reply));
      } catch (RuntimeException e) {
        throw shown(e);
      }
    }
  }

  private static void send(ServerResponse res, ProgrammaticService.Reply reply) {
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(shape(reply)));
  }

  /** The answer to a programmatic run's own failures; the others are the domain's. */
  private static RuntimeException shown(RuntimeException e) {
    return switch (e) {
      case ProgrammaticService.UnknownContinuationException u -> ApiError.notFound(u.getMessage());
      case ProgrammaticService.StaleContinuationException s -> new ApiError(409, s.getMessage());
      case ProgrammaticService.RefusedProgramException r ->
          ApiError.badRequest(r.getMessage(), "tools", "invalid_tools");
      default -> e;
    };
  }

  private void cancel(ServerRequest req, ServerResponse res) {
    JsonNode body = JsonBody.read(req, maxJsonBytes).tree();
    String id = Fields.requiredString(body, "request_id");
    if (!REQUEST_ID_FORMAT.matcher(id).matches()) {
      throw ApiError.validation("request_id", "invalid request id", "invalid_request_id");
    }
    if (!programmatic.cancel(principal(req), id)) {
      throw ApiError.notFound("No programmatic execution with this request id");
    }
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(Map.of("status", "cancelled", "request_id", id)));
  }

  private static Object shape(ProgrammaticService.Reply reply) {
    return switch (reply) {
      case ProgrammaticService.Done d -> d.body();
      case ProgrammaticService.ToolCallsRequired t -> {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("status", "tool_call_required");
        out.put("session_id", t.sessionId());
        out.put("continuation_token", t.token());
        out.put("tool_calls", t.calls());
        yield out;
      }
    };
  }

  private ProgrammaticService.Start start(ServerRequest req, JsonNode body, String requestId) {
    String lang = Fields.optionalString(body, "lang");
    Language language =
        lang == null || lang.equals("py") || lang.equals("python")
            ? Language.parse("py").orElseThrow()
            : lang.equals("bash") ? Language.parse("bash").orElseThrow() : null;
    if (language == null) {
      throw ApiError.validation(
          "lang", "Programmatic tool calling runs py or bash", "unsupported_language");
    }
    String code = Fields.requiredString(body, "code");
    if (code.isBlank()) {
      throw ApiError.badRequest("Code cannot be empty", "code", "empty_code");
    }
    String sessionId = Fields.optionalString(body, "session_id");
    if (sessionId != null && !Ids.isValid(sessionId)) {
      throw ApiError.validation("session_id", "Invalid session id", "invalid_id");
    }
    JsonNode timeout = body.get("timeout");
    long ms = DEFAULT_TIMEOUT_MS;
    if (timeout != null && !timeout.isNull()) {
      if (!timeout.isNumber()) {
        throw ApiError.validation("timeout", "timeout is milliseconds", "type_error");
      }
      ms = timeout.asLong();
    }
    long max = programmatic.maxSegment().toMillis();
    ms = Math.max(MIN_TIMEOUT_MS, Math.min(ms, max));
    ExecCommand cmd =
        new ExecCommand(
            Principals.of(req),
            language,
            code,
            null,
            sessionId,
            null,
            // LibreChat sends none today; a host that does keeps its users' sessions apart.
            ExecEndpoint.userId(body),
            ExecEndpoint.files(body, maxFiles));
    return new ProgrammaticService.Start(requestId, cmd, tools(body), Duration.ofMillis(ms));
  }

  /** The registered names of {@code tools[]} (registry objects; other keys are ignored). */
  private static List<String> tools(JsonNode body) {
    JsonNode tools = body.get("tools");
    if (tools == null || tools.isNull()) {
      return List.of();
    }
    if (!tools.isArray() || tools.size() > MAX_TOOLS) {
      throw ApiError.validation(
          "tools", "tools must be a list of at most " + MAX_TOOLS + " tools", "type_error");
    }
    List<String> names = new ArrayList<>();
    for (int i = 0; i < tools.size(); i++) {
      JsonNode t = tools.get(i);
      String where = "tools[" + i + "].name";
      if (!t.isObject()) {
        throw ApiError.validation("tools[" + i + "]", "a tool is an object", "type_error");
      }
      String name = Fields.requiredString(t, "name", where);
      if (name.isEmpty() || name.length() > 256 || name.chars().anyMatch(c -> c < 0x20)) {
        throw ApiError.validation(where, "invalid tool name", "invalid_tool_name");
      }
      names.add(name);
    }
    return names;
  }

  /** Only the fields the runner passes on, so nothing else of the body reaches it. */
  private static List<Object> results(JsonNode body) {
    JsonNode results = body.get("tool_results");
    if (results == null || !results.isArray() || results.size() > MAX_RESULTS) {
      throw ApiError.validation(
          "tool_results", "tool_results must be a list of results", "type_error");
    }
    List<Object> out = new ArrayList<>();
    for (int i = 0; i < results.size(); i++) {
      JsonNode r = results.get(i);
      String where = "tool_results[" + i + "]";
      if (!r.isObject()) {
        throw ApiError.validation(where, "a result is an object", "type_error");
      }
      Map<String, Object> one = new LinkedHashMap<>();
      one.put("call_id", Fields.requiredString(r, "call_id", where + ".call_id"));
      one.put("result", r.get("result"));
      // A boolean or nothing: asBoolean would read "yes" as false, a failed tool as a success.
      JsonNode isError = r.get("is_error");
      if (isError != null && !isError.isNull() && !isError.isBoolean()) {
        throw ApiError.validation(
            where + ".is_error", "Input should be a valid boolean", "bool_type");
      }
      one.put("is_error", isError != null && isError.asBoolean());
      JsonNode message = r.get("error_message");
      if (message != null && message.isTextual()) {
        one.put("error_message", message.asText());
      }
      out.add(one);
    }
    return out;
  }
}
