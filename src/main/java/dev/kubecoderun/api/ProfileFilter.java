package dev.kubecoderun.api;

import io.helidon.http.HeaderName;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import java.util.List;

/**
 * LibreChat's assertions about the deployment it reached (librechat-client.md §2, §9). This server
 * is the {@code default} execution profile: it says so on every response ({@code
 * X-CodeAPI-Execution-Profile}), and refuses with 409 a request that expects another profile, or
 * that names a stateful workspace or a paired bridge worker, which it does not have (an empty
 * header names none). The body's {@code error} and {@code code} carry the code LibreChat
 * recognises, so the model is told the environment does not support the call and not to retry.
 */
final class ProfileFilter implements Filter {
  static final String PROFILE = "default";
  static final HeaderName EXECUTION_PROFILE = HeaderNames.create("X-CodeAPI-Execution-Profile");
  private static final HeaderName EXPECTED_PROFILE =
      HeaderNames.create("X-CodeAPI-Expected-Profile");
  private static final HeaderName WORKSPACE = HeaderNames.create("X-LibreChat-Code-Workspace-ID");
  private static final HeaderName WORKER = HeaderNames.create("X-LibreChat-Code-Worker-ID");

  @Override
  public void filter(FilterChain chain, RoutingRequest req, RoutingResponse res) {
    // Every value: a request that expects another profile in any of them is not this server's.
    String expected =
        req.headers().all(EXPECTED_PROFILE, List::of).stream()
            .map(String::trim)
            .filter(v -> !v.isEmpty() && !v.equalsIgnoreCase(PROFILE))
            .findFirst()
            .orElse(null);
    ApiError refused = null;
    if (expected != null) {
      refused =
          refusal(
              "execution_profile_mismatch",
              "This server serves the '"
                  + PROFILE
                  + "' execution profile, not '"
                  + Echo.cut(expected)
                  + "' (X-CodeAPI-Expected-Profile)");
    } else if (names(req, WORKSPACE)) {
      refused =
          refusal(
              "stateful_workspace_unsupported",
              "Attached workspaces (X-LibreChat-Code-Workspace-ID) are not supported");
    } else if (names(req, WORKER)) {
      refused =
          refusal(
              "bridge_worker_mismatch",
              "Bridge workers (X-LibreChat-Code-Worker-ID) are not supported");
    }
    if (refused != null) {
      ErrorResponses.send(req, res, refused);
      return;
    }
    chain.proceed();
  }

  /**
   * Whether the header names something: a value that is not blank. An empty one names nothing and
   * is ignored, as an empty expected profile is (LibreChat sends these only with an id, {@code
   * [A-Za-z0-9][A-Za-z0-9._:-]{0,127}}; a proxy or client that always sets them may leave them
   * empty).
   */
  private static boolean names(RoutingRequest req, HeaderName header) {
    return req.headers().all(header, List::of).stream().anyMatch(v -> !v.isBlank());
  }

  private static ApiError refusal(String code, String message) {
    return new ApiError(
            409, "resource_conflict", code, List.of(new ApiError.Detail(null, message, code)))
        .extra("code", code);
  }
}
