package dev.kubecoderun.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The request meter's labels take a bounded set of values, whatever clients send: each series is
 * heap for the life of the process and a line of every scrape.
 */
class RequestSeriesTest {
  private static long series(Metrics m) {
    return m.registry().find("http.server.requests").timers().size();
  }

  private static double count(String scrape, String labels) {
    Matcher c =
        Pattern.compile(
                "(?m)^http_server_requests_seconds_count\\{" + Pattern.quote(labels) + "} (\\S+)$")
            .matcher(scrape);
    return c.find() ? Double.parseDouble(c.group(1)) : -1;
  }

  @Test
  void inventedMethodsShareOneOtherSeries() {
    try (Metrics m = Metrics.unbound()) {
      for (int i = 0; i < 1000; i++) {
        m.request("A" + i, "unmatched", 401, 1_000);
      }
      m.request("get", "unmatched", 401, 1_000); // methods are case-sensitive: not GET
      m.request("GET", "/health", 200, 1_000);
      assertEquals(2, series(m));
      String text = m.scrape();
      assertEquals(1001, count(text, "method=\"OTHER\",route=\"unmatched\",status=\"401\""));
      assertEquals(1, count(text, "method=\"GET\",route=\"/health\",status=\"200\""));
    }
  }

  @Test
  void theStandardMethodsKeepTheirNames() {
    try (Metrics m = Metrics.unbound()) {
      for (String method : new String[] {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}) {
        m.request(method, "/x", 200, 1_000);
      }
      m.request("OPTIONS", "/x", 200, 1_000);
      String text = m.scrape();
      for (String method :
          new String[] {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
        assertEquals(1, count(text, "method=\"" + method + "\",route=\"/x\",status=\"200\""));
      }
    }
  }

  /**
   * The backstop: a label value that escaped its mapping (a route or a status the service never
   * meant to produce) stops adding series at a bound instead of growing without one.
   */
  @Test
  void everyLabelHasABoundOnItsValues() {
    try (Metrics m = Metrics.unbound()) {
      for (int i = 0; i < 5_000; i++) {
        m.request("GET", "/raw/" + i, 200, 1_000);
      }
      assertEquals(Metrics.MAX_ROUTES, series(m));
    }
    try (Metrics m = Metrics.unbound()) {
      for (int i = 0; i < 5_000; i++) {
        m.request("GET", "/health", 1_000 + i, 1_000);
      }
      assertEquals(Metrics.MAX_STATUSES, series(m));
    }
    try (Metrics m = Metrics.unbound()) {
      for (int i = 0; i < 5_000; i++) {
        m.request("POST", "/exec", 200, 1_000);
      }
      assertTrue(m.scrape().contains("route=\"/exec\""), "values under the bound are measured");
    }
  }
}
