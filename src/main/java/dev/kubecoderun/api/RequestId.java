package dev.kubecoderun.api;

import dev.kubecoderun.session.Ids;
import io.helidon.webserver.http.ServerRequest;

/** The id of one request: the X-Request-ID header, the error body and the log lines agree. */
public record RequestId(String value) {
  static RequestId of(ServerRequest req) {
    return req.context().get(RequestId.class).orElseGet(() -> new RequestId(Ids.next()));
  }
}
