package dev.kubecoderun.session;

import dev.kubecoderun.files.FileMetadataStore;
import dev.kubecoderun.files.FileService;
import dev.kubecoderun.files.ObjectStore;
import dev.kubecoderun.state.StateStore;
import java.time.Clock;
import java.time.Duration;

/**
 * Sessions and their files over one set of stores, wired the one way the API, its tests and the
 * benchmarks need them.
 */
public record SessionsAndFiles(
    ExpiredSessions expired, SessionResolver sessions, FileService files) {

  /**
   * {@code ttl} ZERO: sessions never expire. {@code wait}: how long an expired session named again
   * waits for a run of it to end before it is emptied.
   */
  public static SessionsAndFiles wire(
      SessionStore store,
      FileMetadataStore metadata,
      ObjectStore objects,
      StateStore states,
      SessionLocks locks,
      Clock clock,
      Duration ttl,
      Duration wait) {
    // Emptying a session deletes its files whoever owns them: this view of the files asks no owner.
    ExpiredSessions expired =
        new ExpiredSessions(
            store, new FileService(metadata, objects, clock, (p, sid) -> false), states, locks);
    SessionResolver sessions = new SessionResolver(store, clock, ttl, expired, wait);
    return new SessionsAndFiles(
        expired, sessions, new FileService(metadata, objects, clock, sessions::owns));
  }
}
