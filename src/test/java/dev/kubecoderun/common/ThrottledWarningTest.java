package dev.kubecoderun.common;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.kubecoderun.testing.LogCapture;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;

class ThrottledWarningTest {
  @Test
  void warnsOnceAnIntervalWhateverTheCallsInBetween() {
    Logger log = Logger.getLogger("throttled-warning-test");
    log.setUseParentHandlers(false);
    AtomicLong now = new AtomicLong(5_000_000_000L);
    ThrottledWarning w = new ThrottledWarning(log, Duration.ofMinutes(1), now::get);
    try (LogCapture lines = LogCapture.of(log)) {

      w.warn("first");
      w.warn("second");
      now.addAndGet(Duration.ofSeconds(59).toNanos());
      w.warn("third");
      now.addAndGet(Duration.ofSeconds(2).toNanos());
      w.warn("fourth");

      assertEquals(
          List.of("first", "fourth"), lines.records().stream().map(LogRecord::getMessage).toList());
    }
  }
}
