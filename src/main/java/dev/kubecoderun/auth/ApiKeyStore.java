package dev.kubecoderun.auth;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Managed API-key records and rate-limit counters. */
public interface ApiKeyStore {
  Optional<ApiKeyRecord> find(String keyHash);

  /**
   * Writes a whole record (and lists it in the key index): for a new key. A change of an existing
   * one goes through {@link #update}, which cannot bring back a key deleted meanwhile.
   */
  void save(ApiKeyRecord record);

  /**
   * Changes the given fields of a record (null: unchanged; {@code limits} replaces every window) in
   * one step, and only if the record still exists; never its usage fields. False when there is no
   * record: a change racing a delete never recreates the key, and uses counted meanwhile stay.
   */
  boolean update(String keyHash, String name, Boolean enabled, Map<RateWindow, Long> limits);

  /** Every managed record (the key index), in no particular order. */
  List<ApiKeyRecord> list();

  /**
   * Deletes a record, its index entry and its validation cache entry; false when there was none.
   * The next check of the key, on any replica, finds no record.
   */
  boolean delete(String keyHash);

  /**
   * Forgets the Python version's validation cache entry of a key (after it is changed), so a Python
   * replica sharing the store sees the change too. This API keeps no such cache.
   */
  void invalidate(String shortHash);

  /**
   * Adds one to a usage counter and returns the new count, atomically; a new counter expires after
   * {@code ttl}.
   */
  long increment(String shortHash, String counter, Duration ttl);

  /** Takes back one {@link #increment} (a request that was refused after all). */
  void decrement(String shortHash, String counter);

  /** {@code usage_count + 1} and {@code last_used_at = now} on the record. */
  void recordUsage(String keyHash, Instant now);
}
