package dev.kubecoderun.api;

import static dev.kubecoderun.api.AdminKeysEndpoint.PREFIX;
import static dev.kubecoderun.api.AdminKeysEndpoint.send;

import dev.kubecoderun.admin.KeyAdmin;
import dev.kubecoderun.admin.Usage;
import dev.kubecoderun.admin.UsageCounts;
import dev.kubecoderun.admin.UsageEvent;
import dev.kubecoderun.admin.UsageReport;
import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.ExecutionSlots;
import dev.kubecoderun.sandbox.SandboxPool;
import io.helidon.webserver.http.HttpRules;
import io.helidon.webserver.http.HttpService;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.time.DayOfWeek;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The admin API's usage and live state (master key only): usage per key and language over a window,
 * the live per-minute rate, recent failures, the pools; and the Python version's dashboard routes
 * ({@code /stats}, {@code /metrics/...}) with its fields.
 */
final class AdminUsageEndpoint implements HttpService {
  private static final Pattern SHORT_HASH = Pattern.compile("[0-9a-f]{16}([0-9a-f]{48})?");

  private final MasterKey master;
  private final Usage usage;
  private final KeyAdmin keys;
  private final SandboxPool pool;
  private final ExecutionSlots slots;
  private final HealthReports health;

  AdminUsageEndpoint(
      MasterKey master,
      Usage usage,
      KeyAdmin keys,
      SandboxPool pool,
      ExecutionSlots slots,
      HealthReports health) {
    this.master = master;
    this.usage = usage;
    this.keys = keys;
    this.pool = pool;
    this.slots = slots;
    this.health = health;
  }

  @Override
  public void routing(HttpRules rules) {
    rules
        .get(PREFIX + "/usage", this::usageReport)
        .get(PREFIX + "/keys/{key_hash}/usage", this::keyUsage)
        .get(PREFIX + "/usage/live", this::live)
        .get(PREFIX + "/failures", this::failures)
        .get(PREFIX + "/pools", this::pools)
        .get(PREFIX + "/stats", this::stats)
        .get(PREFIX + "/metrics/summary", this::summary)
        .get(PREFIX + "/metrics/languages", this::languages)
        .get(PREFIX + "/metrics/time-series", this::timeSeries)
        .get(PREFIX + "/metrics/heatmap", this::heatmap)
        .get(PREFIX + "/metrics/api-keys", this::apiKeys)
        .get(PREFIX + "/metrics/top-languages", this::topLanguages);
  }

  /** [start, end) in whole hours, the current (partial) hour last. */
  private record Window(Instant start, Instant end, String period) {
    long hours() {
      return Duration.between(start, end).toHours();
    }
  }

  private Window lastHours(ServerRequest req, int dflt, int max) {
    int hours = intParam(req, "hours", dflt, 1, max);
    Instant end = usage.now().truncatedTo(ChronoUnit.HOURS).plus(1, ChronoUnit.HOURS);
    return new Window(end.minus(hours, ChronoUnit.HOURS), end, hours + "h");
  }

  private int maxHours() {
    return (int) Math.min(Integer.MAX_VALUE, usage.retention().toHours());
  }

  /** The Python version's {@code period}, {@code start_date}, {@code end_date}. */
  private Window pythonWindow(ServerRequest req, String dflt) {
    String period = req.query().first("period").orElse(dflt).toLowerCase(Locale.ROOT);
    Duration length =
        switch (period) {
          case "hour" -> Duration.ofHours(1);
          case "day" -> Duration.ofDays(1);
          case "week" -> Duration.ofDays(7);
          case "month" -> Duration.ofDays(30);
          default ->
              throw ApiError.validation(
                  "period", "period must be hour, day, week or month", "enum");
        };
    Instant end = dateParam(req, "end_date").orElse(usage.now());
    Instant start = dateParam(req, "start_date").orElse(end.minus(length));
    if (!start.isBefore(end)) {
      throw ApiError.validation("start_date", "start_date must be before end_date", "value_error");
    }
    if (Duration.between(start, end).compareTo(usage.retention().plusDays(1)) > 0) {
      start = end.minus(usage.retention());
    }
    return new Window(start, end, period);
  }

  private UsageReport hourly(Window w, String subject, String language) {
    return usage.hourly(w.start(), w.end(), subject, language);
  }

  // ---- usage of this API (extends the Python version) ----

  private void usageReport(ServerRequest req, ServerResponse res) {
    master.require(req);
    Window w = lastHours(req, 24, maxHours());
    UsageReport r = hourly(w, subjectParam(req), languageParam(req));
    Map<String, Object> out = window(w);
    out.put("totals", r.total().toJson());
    out.put("by_language", byLanguage(r));
    out.put("by_api_key", byKey(r));
    out.put("time_series", series(r, w, ChronoUnit.HOURS));
    send(res, out);
  }

  private void keyUsage(ServerRequest req, ServerResponse res) {
    master.require(req);
    String hash = req.path().pathParameters().get("key_hash");
    KeyAdmin.Key key =
        (hash.matches("[0-9a-f]{64}") ? keys.find(hash) : Optional.<KeyAdmin.Key>empty())
            .orElseThrow(() -> ApiError.notFound("Key not found"));
    Window w = lastHours(req, 24, maxHours());
    UsageReport r = hourly(w, key.record().shortHash(), null);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("key_hash", hash);
    out.put("name", key.record().name());
    out.putAll(window(w));
    out.put("totals", r.total().toJson());
    out.put("by_language", byLanguage(r));
    out.put("time_series", series(r, w, ChronoUnit.HOURS));
    send(res, out);
  }

  /** The last minutes, all keys together: the request rate, latency and errors by language. */
  private void live(ServerRequest req, ServerResponse res) {
    master.require(req);
    int minutes = intParam(req, "minutes", 60, 1, 120);
    Instant end = usage.now().truncatedTo(ChronoUnit.MINUTES).plus(1, ChronoUnit.MINUTES);
    Window w = new Window(end.minus(minutes, ChronoUnit.MINUTES), end, minutes + "m");
    UsageReport r = usage.perMinute(w.start(), w.end(), languageParam(req));
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("minutes", minutes);
    out.put("start", w.start().toString());
    out.put("end", w.end().toString());
    Map<String, Object> totals = r.total().toJson();
    totals.put("per_minute", rate(r.total(), minutes));
    out.put("totals", totals);
    List<Map<String, Object>> langs = byLanguage(r);
    for (Map<String, Object> l : langs) {
      l.put("per_minute", rate(r.byLanguage().get((String) l.get("language")), minutes));
    }
    out.put("by_language", langs);
    out.put("time_series", series(r, w, ChronoUnit.MINUTES));
    send(res, out);
  }

  private static double rate(UsageCounts c, int minutes) {
    return Math.round(100.0 * c.executions() / minutes) / 100.0;
  }

  private void failures(ServerRequest req, ServerResponse res) {
    master.require(req);
    int limit = intParam(req, "limit", 50, 1, 200);
    List<UsageEvent> failures = usage.failures(limit);
    Map<String, KeyAdmin.Key> names = failures.isEmpty() ? Map.of() : keysByShortHash();
    List<Map<String, Object>> list = new ArrayList<>();
    for (UsageEvent e : failures) {
      Map<String, Object> f = new LinkedHashMap<>();
      f.put("timestamp", e.at().toString());
      f.put("api_key_hash", e.subject());
      KeyAdmin.Key k = names.get(e.subject());
      f.put("key_name", k == null ? null : k.record().name());
      f.put("language", e.language());
      f.put("outcome", e.outcome());
      f.put("status", e.status());
      f.put("duration_ms", e.durationMs());
      f.put("message", e.message());
      f.put("request_id", e.requestId());
      list.add(f);
    }
    send(res, Map.of("failures", list));
  }

  private void pools(ServerRequest req, ServerResponse res) {
    master.require(req);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("backend", pool.backend());
    List<Map<String, Object>> pools = new ArrayList<>();
    for (SandboxPool.PoolState p : pool.states()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("language", p.language());
      m.put("target", p.target());
      m.put("ready", p.ready());
      m.put("starting", p.starting());
      m.put("in_use", p.inUse());
      pools.add(m);
    }
    out.put("pools", pools);
    out.put("slots", Map.of("in_use", slots.inUse(), "capacity", slots.capacity()));
    out.put("pool_stats", poolStats());
    send(res, out);
  }

  // ---- the Python version's dashboard routes ----

  private void stats(ServerRequest req, ServerResponse res) {
    master.require(req);
    Window w = lastHours(req, 24, 168);
    UsageReport r = hourly(w, null, null);
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("summary", pythonSummary(r));
    Map<String, Object> byLang = new LinkedHashMap<>();
    r.byLanguage().forEach((lang, c) -> byLang.put(lang, languageMetrics(lang, c)));
    out.put("by_language", byLang);
    out.put("pool_stats", poolStats());
    Map<String, Object> report = health.report(true);
    out.put("health", Map.of("status", report.get("status"), "services", report.get("services")));
    out.put("period_hours", w.hours());
    out.put("timestamp", usage.now().toString());
    send(res, out);
  }

  private Map<String, Object> pythonSummary(UsageReport r) {
    Instant now = usage.now();
    Instant midnight = now.truncatedTo(ChronoUnit.DAYS);
    Instant hour = now.truncatedTo(ChronoUnit.HOURS);
    long today = 0;
    long thisHour = 0;
    for (var e : r.byBucket().entrySet()) {
      today += e.getKey().isBefore(midnight) ? 0 : e.getValue().executions();
      thisHour += e.getKey().isBefore(hour) ? 0 : e.getValue().executions();
    }
    Map<String, Object> s = new LinkedHashMap<>();
    s.put("total_executions", r.total().executions());
    s.put("total_executions_today", today);
    s.put("total_executions_hour", thisHour);
    s.put("success_rate", r.total().successRate());
    s.put("avg_execution_time_ms", r.total().averageMs());
    s.put("active_api_keys", r.bySubject().size());
    s.put("top_languages", top(r, 5));
    s.put("pool_hit_rate", poolStats().get("hit_rate"));
    return s;
  }

  private static Map<String, Object> languageMetrics(String lang, UsageCounts c) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("language", lang);
    m.put("execution_count", c.executions());
    m.put("success_count", c.successes());
    m.put("failure_count", c.errors() + c.failed());
    m.put("timeout_count", c.timeouts());
    m.put("total_execution_time_ms", c.totalMs());
    m.put("total_memory_mb", 0);
    m.put("avg_execution_time_ms", c.averageMs());
    m.put("avg_memory_mb", 0);
    m.put(
        "error_rate",
        c.executions() == 0 ? 0 : Math.round(10000.0 - 100 * c.successRate()) / 100.0);
    m.put("latency_ms", c.toJson().get("latency_ms"));
    return m;
  }

  private Map<String, Object> poolStats() {
    Map<String, Object> stats = pool.stats();
    long hits = ((Number) stats.get("hits")).longValue();
    long misses = ((Number) stats.get("misses")).longValue();
    long total = hits + misses;
    Map<String, Object> ps = new LinkedHashMap<>();
    ps.put("total_acquisitions", total);
    ps.put("pool_hits", hits);
    ps.put("pool_misses", misses);
    ps.put("hit_rate", total == 0 ? 0.0 : Math.round(10000.0 * hits / total) / 100.0);
    ps.put("avg_acquire_time_ms", null);
    ps.put("exhaustion_events", misses);
    return ps;
  }

  private void summary(ServerRequest req, ServerResponse res) {
    master.require(req);
    Window w = pythonWindow(req, "day");
    UsageReport r = hourly(w, subjectParam(req), null);
    UsageCounts t = r.total();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("total_executions", t.executions());
    out.put("success_count", t.successes());
    out.put("failure_count", t.errors() + t.failed());
    out.put("timeout_count", t.timeouts());
    out.put("success_rate", t.successRate());
    out.put("avg_execution_time_ms", t.averageMs());
    out.put("pool_hit_rate", poolStats().get("hit_rate"));
    out.put("active_api_keys", r.bySubject().size());
    out.put("period", w.period());
    out.put("start_date", w.start().toString());
    out.put("end_date", w.end().toString());
    send(res, out);
  }

  private void languages(ServerRequest req, ServerResponse res) {
    master.require(req);
    Window w = pythonWindow(req, "day");
    UsageReport r = hourly(w, subjectParam(req), null);
    Map<String, Object> byLanguage = new LinkedHashMap<>();
    r.byLanguage().forEach((l, c) -> byLanguage.put(l, c.executions()));
    Map<String, Object> byKey = new LinkedHashMap<>();
    r.bySubject().forEach((s, c) -> byKey.put(s, c.executions()));
    Map<String, Object> matrix = new LinkedHashMap<>();
    r.matrix()
        .forEach(
            (l, m) -> {
              Map<String, Object> row = new LinkedHashMap<>();
              m.forEach((s, c) -> row.put(s, c.executions()));
              matrix.put(l, row);
            });
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("by_language", byLanguage);
    out.put("by_api_key", byKey);
    out.put("matrix", matrix);
    send(res, out);
  }

  /** Hour buckets for an hour or a day, day buckets for a week or a month. */
  private void timeSeries(ServerRequest req, ServerResponse res) {
    master.require(req);
    Window w = pythonWindow(req, "day");
    UsageReport r = hourly(w, subjectParam(req), null);
    boolean daily = w.period().equals("week") || w.period().equals("month");
    ChronoUnit unit = daily ? ChronoUnit.DAYS : ChronoUnit.HOURS;
    Map<Instant, UsageCounts> buckets = new LinkedHashMap<>();
    for (Instant t = w.start().truncatedTo(unit); t.isBefore(w.end()); t = t.plus(1, unit)) {
      buckets.put(t, new UsageCounts());
    }
    r.byBucket()
        .forEach(
            (t, c) -> {
              UsageCounts b = buckets.get(t.truncatedTo(unit));
              if (b != null) {
                b.add(c);
              }
            });
    List<String> timestamps = new ArrayList<>();
    List<Long> executions = new ArrayList<>();
    List<Double> successRate = new ArrayList<>();
    List<Double> avgDuration = new ArrayList<>();
    buckets.forEach(
        (t, c) -> {
          timestamps.add(t.toString());
          executions.add(c.executions());
          successRate.add(c.successRate());
          avgDuration.add(c.averageMs());
        });
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("timestamps", timestamps);
    out.put("executions", executions);
    out.put("success_rate", successRate);
    out.put("avg_duration", avgDuration);
    out.put("granularity", daily ? "day" : "hour");
    send(res, out);
  }

  /** Executions by weekday (Monday first) and hour of day, UTC; hour and day widen to a week. */
  private void heatmap(ServerRequest req, ServerResponse res) {
    master.require(req);
    Window w = pythonWindow(req, "week");
    if (w.period().equals("hour") || w.period().equals("day")) {
      w = new Window(w.end().minus(Duration.ofDays(7)), w.end(), "week");
    }
    UsageReport r = hourly(w, subjectParam(req), null);
    long[][] matrix = new long[7][24];
    long max = 0;
    for (var e : r.byBucket().entrySet()) {
      LocalDateTime t = LocalDateTime.ofInstant(e.getKey(), ZoneOffset.UTC);
      int d = t.getDayOfWeek().getValue() - 1;
      matrix[d][t.getHour()] += e.getValue().executions();
      max = Math.max(max, matrix[d][t.getHour()]);
    }
    List<String> days = new ArrayList<>();
    for (DayOfWeek d : DayOfWeek.values()) {
      days.add(d.getDisplayName(java.time.format.TextStyle.SHORT, Locale.ENGLISH));
    }
    List<Integer> hours = new ArrayList<>();
    for (int h = 0; h < 24; h++) {
      hours.add(h);
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("matrix", matrix);
    out.put("max_value", max);
    out.put("days", days);
    out.put("hours", hours);
    send(res, out);
  }

  private void apiKeys(ServerRequest req, ServerResponse res) {
    master.require(req);
    Window w = pythonWindow(req, "day");
    UsageReport r = hourly(w, null, null);
    Map<String, KeyAdmin.Key> names = r.bySubject().isEmpty() ? Map.of() : keysByShortHash();
    List<Map<String, Object>> out = new ArrayList<>();
    r.bySubject()
        .forEach(
            (s, c) -> {
              KeyAdmin.Key k = names.get(s);
              Map<String, Object> m = new LinkedHashMap<>();
              m.put("key_hash", s);
              m.put(
                  "name",
                  k == null ? "Key " + s.substring(0, Math.min(8, s.length())) : k.record().name());
              m.put("key_prefix", k == null ? null : k.record().keyPrefix());
              m.put("usage_count", c.executions());
              m.put("source", k == null ? null : k.source());
              out.add(m);
            });
    out.sort(Comparator.comparing(m -> -((Long) m.get("usage_count"))));
    send(res, out);
  }

  private void topLanguages(ServerRequest req, ServerResponse res) {
    master.require(req);
    Window w = pythonWindow(req, "day");
    int limit = intParam(req, "limit", 5, 1, 20);
    UsageReport r = hourly(w, subjectParam(req), null);
    send(res, Map.of("languages", top(r, limit), "period", w.period()));
  }

  private static List<Map<String, Object>> top(UsageReport r, int limit) {
    return r.byLanguage().entrySet().stream()
        .sorted(Comparator.comparing(e -> -e.getValue().executions()))
        .limit(limit)
        .map(
            e -> Map.<String, Object>of("language", e.getKey(), "count", e.getValue().executions()))
        .toList();
  }

  // ---- helpers ----

  private static Map<String, Object> window(Window w) {
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("period_hours", w.hours());
    out.put("start", w.start().toString());
    out.put("end", w.end().toString());
    return out;
  }

  private static List<Map<String, Object>> byLanguage(UsageReport r) {
    List<Map<String, Object>> out = new ArrayList<>();
    r.byLanguage()
        .forEach(
            (lang, c) -> {
              Map<String, Object> m = new LinkedHashMap<>();
              m.put("language", lang);
              m.putAll(c.toJson());
              out.add(m);
            });
    return out;
  }

  private List<Map<String, Object>> byKey(UsageReport r) {
    Map<String, KeyAdmin.Key> names = r.bySubject().isEmpty() ? Map.of() : keysByShortHash();
    List<Map<String, Object>> out = new ArrayList<>();
    r.bySubject()
        .forEach(
            (s, c) -> {
              KeyAdmin.Key k = names.get(s);
              Map<String, Object> m = new LinkedHashMap<>();
              m.put("api_key_hash", s);
              m.put("name", k == null ? null : k.record().name());
              m.put("key_prefix", k == null ? null : k.record().keyPrefix());
              m.put("source", k == null ? null : k.source());
              m.putAll(c.toJson());
              out.add(m);
            });
    return out;
  }

  /** Every bucket of the window, empty ones included (a chart needs the gaps). */
  private static List<Map<String, Object>> series(UsageReport r, Window w, ChronoUnit unit) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (Instant t = w.start(); t.isBefore(w.end()); t = t.plus(1, unit)) {
      UsageCounts c = r.byBucket().getOrDefault(t, new UsageCounts());
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("start", t.toString());
      m.put("executions", c.executions());
      m.put("error_count", c.errors());
      m.put("timeout_count", c.timeouts());
      m.put("failure_count", c.failed());
      m.put("p50_ms", c.percentileMs(0.5));
      m.put("p95_ms", c.percentileMs(0.95));
      out.add(m);
    }
    return out;
  }

  /** Every key by its short hash (a read of every managed key: only when a name is shown). */
  private Map<String, KeyAdmin.Key> keysByShortHash() {
    Map<String, KeyAdmin.Key> out = new HashMap<>();
    for (KeyAdmin.Key k : keys.list()) {
      out.put(k.record().shortHash(), k);
    }
    return out;
  }

  private static String subjectParam(ServerRequest req) {
    return req.query().first("api_key_hash").map(AdminUsageEndpoint::shortHash).orElse(null);
  }

  private static String shortHash(String h) {
    if (h.equals(UsageEvent.ANONYMOUS)) {
      return h;
    }
    if (!SHORT_HASH.matcher(h).matches()) {
      throw ApiError.validation(
          "api_key_hash", "api_key_hash must be 16 or 64 hex digits", "string_pattern_mismatch");
    }
    return ApiKeyRecord.shortHash(h);
  }

  private static String languageParam(ServerRequest req) {
    Optional<String> l = req.query().first("language").asOptional();
    if (l.isEmpty() || l.get().isEmpty()) {
      return null;
    }
    return Language.parse(l.get())
        .map(Language::code)
        .orElseThrow(
            () ->
                ApiError.validation("language", "Unknown language: " + Echo.cut(l.get()), "enum"));
  }

  private static int intParam(ServerRequest req, String name, int dflt, int min, int max) {
    Optional<String> v = req.query().first(name).asOptional();
    if (v.isEmpty() || v.get().isEmpty()) {
      return dflt;
    }
    try {
      int n = Integer.parseInt(v.get());
      if (n < min || n > max) {
        throw ApiError.validation(
            name, name + " must be between " + min + " and " + max, "range_error");
      }
      return n;
    } catch (NumberFormatException e) {
      throw ApiError.validation(name, name + " must be a whole number", "int_parsing");
    }
  }

  /** ISO date-times; one without an offset is UTC (as the Python version's dashboard sends). */
  private static Optional<Instant> dateParam(ServerRequest req, String name) {
    Optional<String> v = req.query().first(name).asOptional();
    if (v.isEmpty() || v.get().isEmpty()) {
      return Optional.empty();
    }
    String s = v.get();
    try {
      return Optional.of(OffsetDateTime.parse(s).toInstant());
    } catch (DateTimeParseException e) {
      try {
        return Optional.of(LocalDateTime.parse(s).toInstant(ZoneOffset.UTC));
      } catch (DateTimeParseException e2) {
        throw ApiError.validation(name, name + " must be an ISO date-time", "datetime_parsing");
      }
    }
  }
}
