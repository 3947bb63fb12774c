package dev.kubecoderun.session;

import dev.kubecoderun.api.Json;
import dev.kubecoderun.files.LocalDisk;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Comparator;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/** Sessions in memory, written through to one JSON file each so they survive a restart. */
public final class LocalSessionStore implements SessionStore {
  private static final Logger LOG = Logger.getLogger(LocalSessionStore.class.getName());

  private final Path dir;
  private final Map<String, Session> sessions = new ConcurrentHashMap<>();

  public LocalSessionStore(Path dataDir) {
    this.dir = dataDir.resolve("meta/sessions");
    load();
  }

  @Override
  public void save(Session session) {
    LocalDisk.write(dir.resolve(session.id() + ".json"), Json.write(session));
    sessions.put(session.id(), session);
  }

  @Override
  public Optional<Session> find(String id) {
    return Optional.ofNullable(sessions.get(id));
  }

  @Override
  public Optional<Session> findByEntity(String entityId) {
    return sessions.values().stream()
        .filter(s -> entityId.equals(s.entityId()))
        .max(Comparator.comparing(Session::lastActivity));
  }

  @Override
  public void touch(String id, Instant now) {
    Session s = sessions.computeIfPresent(id, (k, old) -> old.touched(now));
    if (s != null) {
      LocalDisk.write(dir.resolve(id + ".json"), Json.write(s));
    }
  }

  private void load() {
    if (!Files.isDirectory(dir)) {
      return;
    }
    try (var files = Files.list(dir)) {
      files
          .filter(p -> p.getFileName().toString().endsWith(".json"))
          .forEach(
              p -> {
                try {
                  Session s = Json.read(Files.readAllBytes(p), Session.class);
                  sessions.put(s.id(), s);
                } catch (IOException | RuntimeException e) {
                  LOG.warning("skipping unreadable session file " + p + ": " + e.getMessage());
                }
              });
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
