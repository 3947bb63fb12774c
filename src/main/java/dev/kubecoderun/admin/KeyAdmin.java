package dev.kubecoderun.admin;

import dev.kubecoderun.auth.ApiKeyRecord;
import dev.kubecoderun.auth.ApiKeyStore;
import dev.kubecoderun.auth.ManagedApiKeys;
import dev.kubecoderun.auth.RateWindow;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The admin API's key management: managed keys are created (the secret is returned once, only its
 * SHA-256 is stored), listed, changed and revoked; the env keys (API_KEY, API_KEYS) are listed
 * read-only. A change is one atomic step of the store, which every replica reads on the key's next
 * request.
 */
public final class KeyAdmin {
  /** A key as the admin API shows it; {@code source}: managed or environment. */
  public record Key(ApiKeyRecord record, String source) {
    public boolean managed() {
      return source.equals("managed");
    }
  }

  /** A new key: {@code apiKey} is the secret, shown this once. */
  public record Created(String apiKey, ApiKeyRecord record) {}

  /** The result of a change. */
  public enum Outcome {
    DONE,
    NOT_FOUND,
    ENVIRONMENT
  }

  private final ApiKeyStore store;
  private final List<ApiKeyRecord> envKeys;
  private final Clock clock;
  private final Usage usage; // null: env keys listed without their use
  private final SecureRandom random = new SecureRandom();

  public KeyAdmin(ApiKeyStore store, List<String> envKeys, Clock clock) {
    this(store, envKeys, clock, null);
  }

  /**
   * {@code usage}: where the use of env keys is read. The key store counts a managed key's use on
   * its record; it keeps nothing of an env key, whose runs usage records all the same.
   */
  public KeyAdmin(ApiKeyStore store, List<String> envKeys, Clock clock, Usage usage) {
    this.store = store;
    this.clock = clock;
    this.usage = usage;
    Instant started = clock.instant();
    List<ApiKeyRecord> env = new ArrayList<>();
    for (int i = 0; i < envKeys.size(); i++) {
      String k = envKeys.get(i);
      // Only 4 characters: an env key may be as short as 16, and the prefix is shown.
      env.add(
          new ApiKeyRecord(
              ManagedApiKeys.sha256Hex(k),
              k.substring(0, 4),
              "Environment Key (#" + (i + 1) + ")",
              started,
              true,
              Map.of(),
              0,
              null,
              Map.of("type", "environment")));
    }
    this.envKeys = List.copyOf(env);
  }

  /**
   * Env key records with their use as usage recorded it (its runs over USAGE_RETENTION_DAYS, the
   * start of the hour of the last one), as /api/v1/admin/metrics/api-keys counts it too. A read of
   * every hour bucket kept: only for the admin API's keys list and a key shown.
   */
  private List<ApiKeyRecord> withUse(List<ApiKeyRecord> env) {
    if (usage == null || env.isEmpty()) {
      return env;
    }
    Instant now = usage.now();
    UsageReport r = usage.hourly(now.minus(usage.retention()), now, null, null);
    return env.stream()
        .map(
            k -> {
              UsageCounts c = r.bySubject().get(k.shortHash());
              return c == null
                  ? k
                  : k.withUsage(c.executions(), r.lastBySubject().get(k.shortHash()));
            })
        .toList();
  }

  /** The Python version's key format: {@code sk-} + 24 random bytes in base64url (35 chars). */
  public Created create(String name, Map<RateWindow, Long> limits, Map<String, String> metadata) {
    byte[] secret = new byte[24];
    random.nextBytes(secret);
    String key = "sk-" + Base64.getUrlEncoder().withoutPadding().encodeToString(secret);
    ApiKeyRecord r =
        new ApiKeyRecord(
            ManagedApiKeys.sha256Hex(key),
            key.substring(0, 11),
            name,
            clock.instant(),
            true,
            limits,
            0,
            null,
            metadata);
    store.save(r);
    return new Created(key, r);
  }

  /**
   * Every key, newest first; env keys after the managed ones. A record without created_at (blank in
   * a record another tool wrote) comes after the dated ones. An env key's use is not read (it is
   * 0): for the keys' names, prefixes and sources.
   */
  public List<Key> list() {
    return list(envKeys);
  }

  /** {@link #list()}, each env key with its use as usage recorded it (the admin keys list). */
  public List<Key> listWithUse() {
    return list(withUse(envKeys));
  }

  private List<Key> list(List<ApiKeyRecord> env) {
    List<Key> out = new ArrayList<>();
    store.list().stream()
        .sorted(
            Comparator.comparing(
                ApiKeyRecord::createdAt, Comparator.nullsLast(Comparator.reverseOrder())))
        .forEach(r -> out.add(new Key(r, "managed")));
    env.forEach(r -> out.add(new Key(r, "environment")));
    return out;
  }

  /** The key with that hash; an env key without its use read (it is 0), as in {@link #list()}. */
  public Optional<Key> find(String keyHash) {
    return find(keyHash, false);
  }

  /** {@link #find}, an env key with its use as usage recorded it (the admin API's key shown). */
  public Optional<Key> findWithUse(String keyHash) {
    return find(keyHash, true);
  }

  private Optional<Key> find(String keyHash, boolean envUse) {
    List<ApiKeyRecord> env = envKeys.stream().filter(r -> r.keyHash().equals(keyHash)).toList();
    if (!env.isEmpty()) {
      return Optional.of(new Key((envUse ? withUse(env) : env).get(0), "environment"));
    }
    return store.find(keyHash).map(r -> new Key(r, "managed"));
  }

  /**
   * Changes what is not null; {@code limits}, when given, replaces all windows. One step of the
   * store, not a read and a write back: a DELETE landing meanwhile is never undone (the change
   * finds no record: NOT_FOUND), and uses counted meanwhile are kept.
   */
  public Outcome update(
      String keyHash, String name, Boolean enabled, Map<RateWindow, Long> limits) {
    if (envKeys.stream().anyMatch(r -> r.keyHash().equals(keyHash))) {
      return Outcome.ENVIRONMENT;
    }
    if (!store.update(keyHash, name, enabled, limits)) {
      return Outcome.NOT_FOUND;
    }
    // The Python version's validation cache, for a Python replica sharing this Redis.
    store.invalidate(ApiKeyRecord.shortHash(keyHash));
    return Outcome.DONE;
  }

  public Outcome revoke(String keyHash) {
    if (envKeys.stream().anyMatch(r -> r.keyHash().equals(keyHash))) {
      return Outcome.ENVIRONMENT;
    }
    return store.delete(keyHash) ? Outcome.DONE : Outcome.NOT_FOUND;
  }
}
