package dev.kubecoderun.admin;

import com.fasterxml.jackson.core.type.TypeReference;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.common.ThrottledWarning;
import dev.kubecoderun.files.LocalDisk;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.logging.Logger;

/**
 * Usage of the embedded mode: in memory, the hours written to {@code
 * DATA_DIR/usage/hours/<hour>.json} and the failures to {@code DATA_DIR/usage/failures.json} at
 * most every few seconds and at shutdown (a crash loses the last seconds' counts). The per-minute
 * counters stay in memory.
 */
public final class LocalUsageStore implements UsageStore {
  private static final Logger LOG = Logger.getLogger(LocalUsageStore.class.getName());
  private static final Duration WRITE_EVERY = Duration.ofSeconds(5);
  private static final TypeReference<Map<String, Long>> COUNTERS = new TypeReference<>() {};
  private static final TypeReference<List<UsageEvent>> EVENTS = new TypeReference<>() {};

  private final Path dir;
  private final Duration retention;
  private final Clock clock;
  private final NavigableMap<Instant, Map<String, Long>> hours = new ConcurrentSkipListMap<>();
  private final NavigableMap<Instant, Map<String, Long>> minutes = new ConcurrentSkipListMap<>();
  private final Deque<UsageEvent> failures = new ArrayDeque<>();
  private final Set<Instant> dirty = new HashSet<>();
  private boolean failuresDirty;
  private Instant lastWrite = Instant.EPOCH;
  private final ThrottledWarning notWritten = new ThrottledWarning(LOG, Duration.ofMinutes(1));

  public LocalUsageStore(Path dataDir, Duration retention, Clock clock) {
    this.dir = dataDir.resolve("usage");
    this.retention = retention;
    this.clock = clock;
    load();
  }

  @Override
  public void record(UsageEvent e) {
    add(hours, e.at().truncatedTo(ChronoUnit.HOURS), UsageCounts.fields(e.subject(), e));
    add(minutes, e.at().truncatedTo(ChronoUnit.MINUTES), UsageCounts.fields("*", e));
    boolean write;
    synchronized (this) {
      dirty.add(e.at().truncatedTo(ChronoUnit.HOURS));
      if (e.isFailure()) {
        failures.addFirst(e);
        while (failures.size() > FAILURES_KEPT) {
          failures.removeLast();
        }
        failuresDirty = true;
      }
      Instant now = clock.instant();
      write = Duration.between(lastWrite, now).compareTo(WRITE_EVERY) >= 0;
      if (write) {
        lastWrite = now;
      }
    }
    if (write) {
      try {
        flush();
      } catch (RuntimeException ex) {
        // A full disk, say: the event is counted in memory all the same and written at a later
        // flush; not a lost record (the caller would count it lost).
        notWritten.warn("usage counts not written yet, kept for a later write: " + ex.getMessage());
      }
    }
  }

  private static void add(
      NavigableMap<Instant, Map<String, Long>> buckets, Instant at, Map<String, Long> fields) {
    Map<String, Long> bucket = buckets.computeIfAbsent(at, t -> new ConcurrentHashMap<>());
    fields.forEach((f, v) -> bucket.merge(f, v, Long::sum));
  }

  @Override
  public NavigableMap<Instant, Map<String, Long>> hours(Instant from, Instant to) {
    return copy(hours.subMap(from.truncatedTo(ChronoUnit.HOURS), true, to, false));
  }

  @Override
  public NavigableMap<Instant, Map<String, Long>> minutes(Instant from, Instant to) {
    return copy(minutes.subMap(from.truncatedTo(ChronoUnit.MINUTES), true, to, false));
  }

  private static NavigableMap<Instant, Map<String, Long>> copy(
      Map<Instant, Map<String, Long>> part) {
    NavigableMap<Instant, Map<String, Long>> out = new TreeMap<>();
    part.forEach((t, m) -> out.put(t, new HashMap<>(m)));
    return out;
  }

  @Override
  public synchronized List<UsageEvent> failures(int limit) {
    return failures.stream().limit(limit).toList();
  }

  /** Writes the changed hours and the failures, and forgets what is past its time. */
  private void flush() {
    Instant now = clock.instant();
    List<Instant> toWrite;
    List<UsageEvent> failuresNow = null;
    synchronized (this) {
      toWrite = new ArrayList<>(dirty);
      dirty.clear();
      if (failuresDirty) {
        failuresNow = List.copyOf(failures);
        failuresDirty = false;
      }
    }
    try {
      for (Instant hour : toWrite) {
        Map<String, Long> bucket = hours.get(hour);
        if (bucket != null) {
          LocalDisk.write(hourFile(hour), Json.write(new TreeMap<>(bucket)), false);
        }
      }
      if (failuresNow != null) {
        LocalDisk.write(dir.resolve("failures.json"), Json.write(failuresNow), false);
      }
    } catch (RuntimeException e) {
      // A full disk, say: written at the next flush (or at shutdown) once it has room again.
      synchronized (this) {
        dirty.addAll(toWrite);
        failuresDirty |= failuresNow != null;
      }
      throw e;
    }
    minutes.headMap(now.minus(MINUTES_KEPT)).clear();
    Instant oldest = now.minus(retention);
    for (Instant old : new ArrayList<>(hours.headMap(oldest).keySet())) {
      hours.remove(old);
      try {
        Files.deleteIfExists(hourFile(old));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  private Path hourFile(Instant hour) {
    return dir.resolve("hours").resolve(HOUR.format(hour) + ".json");
  }

  private void load() {
    Path hoursDir = dir.resolve("hours");
    Instant oldest = clock.instant().minus(retention);
    if (Files.isDirectory(hoursDir)) {
      try (var files = Files.list(hoursDir)) {
        for (Path p : files.toList()) {
          String name = p.getFileName().toString();
          try {
            Instant hour = HOUR.parse(name.replace(".json", ""), Instant::from);
            if (hour.isBefore(oldest)) {
              Files.deleteIfExists(p);
            } else {
              hours.put(hour, new ConcurrentHashMap<>(Json.MAPPER.readValue(p.toFile(), COUNTERS)));
            }
          } catch (IOException | RuntimeException e) {
            LOG.warning("skipping unreadable usage file " + p + ": " + e.getMessage());
          }
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    Path f = dir.resolve("failures.json");
    if (Files.exists(f)) {
      try {
        // Entries it cannot show (null, no time or outcome) are skipped, a file that is no list
        // too (null: a NullPointerException): the store starts with what it can read.
        Json.MAPPER.readValue(f.toFile(), EVENTS).stream()
            .filter(e -> e != null && e.at() != null && e.outcome() != null)
            .forEach(failures::addLast);
      } catch (IOException | RuntimeException e) {
        LOG.warning("skipping unreadable usage file " + f + ": " + e.getMessage());
      }
    }
  }

  /**
   * The last counts written; a disk that cannot take them (full) costs them, logged, not the rest
   * of the stop.
   */
  @Override
  public void close() {
    try {
      flush();
    } catch (RuntimeException e) {
      LOG.warning("usage of the last seconds not written: " + e.getMessage());
    }
  }
}
