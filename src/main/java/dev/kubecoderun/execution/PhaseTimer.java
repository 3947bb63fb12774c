package dev.kubecoderun.execution;

import dev.kubecoderun.language.Language;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/** Milliseconds spent in each step of one execution, logged as one structured line. */
final class PhaseTimer {
  private static final Logger LOG = Logger.getLogger("dev.kubecoderun.execution.timings");

  private final Map<String, Object> fields = new LinkedHashMap<>();
  private final long start = System.nanoTime();
  private long last = start;

  void mark(String phase) {
    long now = System.nanoTime();
    fields.put(phase + "_ms", Math.round((now - last) / 1e4) / 100.0);
    last = now;
  }

  void log(Language language, String status, String sessionId) {
    fields.put("language", language.code());
    fields.put("status", status);
    fields.put("session_id", sessionId);
    fields.put("total_ms", Math.round((System.nanoTime() - start) / 1e4) / 100.0);
    LOG.log(Level.INFO, "execution", fields);
  }
}
