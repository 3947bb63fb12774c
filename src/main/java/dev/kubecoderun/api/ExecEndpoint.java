package dev.kubecoderun.api;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.admin.Usage;
import dev.kubecoderun.auth.Principal;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.execution.ExecCommand;
import dev.kubecoderun.execution.ExecResponse;
import dev.kubecoderun.execution.ExecutionService;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.metrics.Metrics;
import dev.kubecoderun.session.Ids;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** POST /exec: validates the request, runs it, answers 200 for every outcome of the code. */
final class ExecEndpoint implements HttpService {

  private final ExecutionService executions;
  private final long maxJsonBytes;
  private final int maxFiles;
  private final ExecutionRecorder recorder;

  ExecEndpoint(
      ExecutionService executions, long maxJsonBytes, int maxFiles, Metrics metrics, Usage usage) {
    this.executions = executions;
    this.maxJsonBytes = maxJsonBytes;
    this.maxFiles = maxFiles;
    this.recorder = new ExecutionRecorder(metrics, usage);
  }

  @Override
  public void routing(HttpRules rules) {
    rules.post("/exec", this::exec);
  }

  /**
   * A request that passes validation is an execution: its outcome and time go to the metrics and to
   * usage, after the answer is sent (a failure is recorded on its way to the error handler).
   */
  private void exec(ServerRequest req, ServerResponse res) throws InterruptedException {
    ExecCommand cmd = parse(Principals.of(req), JsonBody.read(req, maxJsonBytes).tree(), maxFiles);
    long start = System.nanoTime();
    ExecResponse out;
    try {
      out = executions.execute(cmd, null, RequestMemory.of(req));
    } catch (RuntimeException e) {
      recorder.failed(req, cmd.language().code(), System.nanoTime() - start, e);
      throw e;
    }
    // The run left what its answer costs held with the request, until RequestFilter gives it back.
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(Json.write(out));
    recorder.ended(req, cmd.language().code(), out.status(), System.nanoTime() - start);
  }

  static ExecCommand parse(Principal principal, JsonNode body, int maxFiles) {
    if (!body.isObject()) {
      throw ApiError.validation("body", "Request body must be a JSON object", "type_error");
    }
    String lang = Fields.requiredString(body, "lang");
    Language language =
        Language.parse(lang)
            .orElseThrow(
                () ->
                    new ApiError(
                        400,
                        "validation",
                        "Unsupported programming language: " + Echo.cut(lang),
                        List.of(
                            new ApiError.Detail(
                                "lang",
                                "Language '" + Echo.cut(lang) + "' is not supported",
                                "unsupported_language"))));
    String code = Fields.requiredString(body, "code");
    if (code.isBlank()) {
      throw ApiError.badRequest("Code cannot be empty", "code", "empty_code");
    }
    String sessionId = Fields.optionalString(body, "session_id");
    if (sessionId != null && !Ids.isValid(sessionId)) {
      throw ApiError.validation("session_id", "Invalid session id", "invalid_id");
    }
    String entityId = Fields.optionalString(body, "entity_id");
    if (entityId != null && !Ids.isValidEntity(entityId)) {
      throw ApiError.invalidEntityId();
    }
    String userId = userId(body);
    return new ExecCommand(
        principal,
        language,
        code,
        args(body.get("args")),
        sessionId,
        entityId,
        userId,
        files(body, maxFiles));
  }

  /**
   * The LibreChat user the run is for ({@code user_id}), if any: checked ({@link Ids#isValidUser}),
   * as the session made for it keeps it as long as it lives.
   */
  static String userId(JsonNode body) {
    String userId = Fields.optionalString(body, "user_id");
    if (userId != null && !Ids.isValidUser(userId)) {
      throw ApiError.invalidUserId("user_id");
    }
    return userId;
  }

  /** Program arguments when the client sends a list of strings; any other shape is ignored. */
  private static List<String> args(JsonNode args) {
    if (args == null || !args.isArray()) {
      return null;
    }
    List<String> out = new ArrayList<>();
    for (JsonNode a : args) {
      if (!a.isTextual()) {
        return null;
      }
      out.add(a.asText());
    }
    return out.isEmpty() ? null : out;
  }

  /**
   * The file references, at most {@code maxFiles} (MAX_EXEC_FILES) places: each one costs a lookup
   * and a copy into the sandbox. LibreChat sends every file it tracks on every call, and an older
   * client appends a session's listing to the files it already names, so references to one place
   * count once: the same {@code name}, or without a name the same file; the later one wins, as it
   * would when the files are placed. What is kept never exceeds {@code maxFiles}: the request is
   * refused as soon as one more place is named.
   */
  static List<ExecCommand.FileRef> files(JsonNode body, int maxFiles) {
    JsonNode files = body.get("files");
    if (files == null || files.isNull()) {
      return List.of();
    }
    if (!files.isArray()) {
      throw ApiError.validation("files", "files must be a list", "type_error");
    }
    Map<String, ExecCommand.FileRef> places = new LinkedHashMap<>();
    for (int i = 0; i < files.size(); i++) {
      JsonNode f = files.get(i);
      String where = "files[" + i + "]";
      if (!f.isObject()) {
        throw ApiError.validation(where, "file reference must be an object", "type_error");
      }
      String id = Fields.requiredString(f, "id", where + ".id");
      String sid = Fields.optionalString(f, "session_id", where + ".session_id");
      String storage =
          Fields.optionalString(f, "storage_session_id", where + ".storage_session_id");
      String session = storage != null ? storage : sid;
      if (session == null) {
        throw ApiError.validation(
            where + ".session_id", "session_id or storage_session_id is required", "missing");
      }
      if (!Ids.isValid(session)) {
        throw ApiError.validation(where, "invalid file or session id", "invalid_id");
      }
      String name = Fields.optionalString(f, "name", where + ".name");
      if (name != null) {
        name = SandboxPaths.checkRelative(name, where + ".name");
      }
      if (!Ids.isValid(id)) {
        // @librechat/agents 2.4.x/3.1.x build a reference from GET /files/{sid}?detail=full with
        // id = the part of `name` after its first '/' up to a dot: "" for a plain name, a folder
        // for a path ("skills/My Skill/SKILL.md" -> "My Skill"). Its `name` still names the file.
        if (name == null) {
          throw ApiError.validation(where, "invalid file or session id", "invalid_id");
        }
        id = null;
      }
      String place = name != null ? "name:" + name : "file:" + session + "/" + id;
      places.remove(place);
      places.put(place, new ExecCommand.FileRef(id, session, name));
      if (places.size() > maxFiles) {
        throw ApiError.badRequest(
            "Too many files: more than " + maxFiles + " different files referenced",
            "files",
            "too_many_files");
      }
    }
    return List.copyOf(places.values());
  }
}
