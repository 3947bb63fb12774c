package dev.kubecoderun.api;

import dev.kubecoderun.auth.Principal;
import io.helidon.webserver.http.Filter;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import io.helidon.webserver.http.ServerRequest;

/** The principal of a request, as the auth filter (or, with AUTH_ENABLED=false, this) set it. */
final class Principals {
  private Principals() {}

  /**
   * The request's principal. A route reached without one is a wiring bug: fail rather than act for
   * nobody in particular.
   */
  static Principal of(ServerRequest req) {
    return req.context()
        .get(Principal.class)
        .orElseThrow(() -> new IllegalStateException("no principal on " + req.path().path()));
  }

  /** AUTH_ENABLED=false: every request acts as the one anonymous principal. */
  static Filter anonymous() {
    return (FilterChain chain, RoutingRequest req, RoutingResponse res) -> {
      req.context().register(Principal.ANONYMOUS);
      chain.proceed();
    };
  }
}
