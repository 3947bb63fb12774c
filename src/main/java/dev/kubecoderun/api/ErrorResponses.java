package dev.kubecoderun.api;

import dev.kubecoderun.common.Json;
import io.helidon.common.media.type.MediaTypes;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.math.BigDecimal;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/** Renders every non-2xx answer in the one error shape. */
public final class ErrorResponses {
  private static final Logger LOG = Logger.getLogger(ErrorResponses.class.getName());

  private ErrorResponses() {}

  public static void send(ServerRequest req, ServerResponse res, ApiError e) {
    if (res.isSent()) {
      return;
    }
    e.headers().forEach(res::header);
    // The connection ends after this answer: the client is told so, or it would send its next
    // request on a connection about to close.
    if (Bodies.expectedButUnread(req)) {
      res.header("Connection", "close");
    }
    res.status(e.status());
    res.headers().contentType(MediaTypes.APPLICATION_JSON);
    res.send(body(e, RequestId.of(req).value()));
  }

  public static void sendUnexpected(ServerRequest req, ServerResponse res, Throwable t) {
    LOG.log(Level.SEVERE, "unexpected error on " + req.prologue().uriPath().path(), t);
    send(req, res, new ApiError(500, "internal_server", "An unexpected error occurred", null));
  }

  static byte[] body(ApiError e, String requestId) {
    Map<String, Object> body = new LinkedHashMap<>();
    body.put("error", e.getMessage());
    body.put("error_type", e.errorType());
    body.put("details", e.details());
    body.put("request_id", requestId);
    body.put("timestamp", unixSeconds(System.currentTimeMillis()));
    e.extra().forEach(body::putIfAbsent);
    return Json.write(body);
  }

  /**
   * Unix seconds with their milliseconds, written as a plain decimal ({@code 1796111608.962}): a
   * double this large is written in scientific notation ({@code 1.796111608962E9}), valid JSON but
   * not what clients of the Python version (a float written by json.dumps) read.
   */
  static BigDecimal unixSeconds(long epochMillis) {
    return BigDecimal.valueOf(epochMillis, 3);
  }
}
