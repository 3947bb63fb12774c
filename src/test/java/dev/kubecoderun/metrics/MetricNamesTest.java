package dev.kubecoderun.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The service's metric names as Prometheus scrapes them are the ones docs/operations.md lists, and
 * the chart's Grafana dashboard charts no name the service does not export.
 */
class MetricNamesTest {
  private static final Pattern OWN = Pattern.compile("\\b((?:kubecoderun|http_server)_[a-z_]+)");

  /** Every family the service's own meters export, each meter used once. */
  private static Set<String> exported() {
    try (Metrics m = Metrics.unbound()) {
      m.request("GET", "/languages", 429, 1_000);
      m.execution("py", "ok", 1_000);
      m.sandboxWait("py", "pool", 1_000);
      m.slotWait(1_000);
      m.sandboxStart("py", "warm", true, 1_000);
      m.pool("py", () -> 1, () -> 1, () -> 0, () -> 0);
      m.slots(() -> 0, 4);
      m.requestMemory(() -> 0, 1 << 20, () -> 0);
      m.filesUploaded(1, 10);
      m.fileDownloaded(10);
      m.storeError("redis");
      m.usageRecordLost();
      m.credentialThrottled("api");
      Set<String> out = new TreeSet<>();
      Matcher t = Pattern.compile("(?m)^# TYPE (\\S+) ").matcher(m.scrape());
      while (t.find()) {
        // Micrometer adds a _max gauge to each timer: part of the timer's row in the docs.
        if (!t.group(1).endsWith("_max")) {
          out.add(t.group(1));
        }
      }
      return out;
    }
  }

  private static Set<String> named(String text) {
    Set<String> out = new TreeSet<>();
    Matcher m = OWN.matcher(text);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  @Test
  void theDocsListExactlyTheExportedMetrics() throws IOException {
    String doc = Files.readString(Path.of("docs/operations.md"));
    int start = doc.indexOf("## Prometheus metrics");
    String section = doc.substring(start, doc.indexOf("\n## ", start + 1));
    assertEquals(exported(), named(section));
  }

  @Test
  void theGrafanaDashboardChartsOnlyExportedMetrics() throws IOException {
    Set<String> exported = exported();
    Set<String> charted = new TreeSet<>();
    for (String name :
        named(Files.readString(Path.of("charts/kubecoderun/dashboards/kubecoderun.json")))) {
      charted.add(name.replaceAll("_(bucket|count|sum)$", ""));
    }
    assertTrue(charted.size() > 10, charted.toString());
    charted.removeAll(exported);
    assertEquals(Set.of(), charted, "charted but not exported");
  }
}
