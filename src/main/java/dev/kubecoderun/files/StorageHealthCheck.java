package dev.kubecoderun.files;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/** Writes, reads back and deletes a probe object. */
public final class StorageHealthCheck implements HealthCheck {
  private final ObjectStore objects;
  private final String name;

  public StorageHealthCheck(ObjectStore objects, String name) {
    this.objects = objects;
    this.name = name;
  }

  @Override
  public String name() {
    return name;
  }

  @Override
  public HealthCheckResponse call() {
    String key = "health_check/probe-" + System.nanoTime();
    byte[] probe = "ok".getBytes(StandardCharsets.UTF_8);
    try {
      objects.put(key, new ByteArrayInputStream(probe), 16, "text/plain");
      Optional<InputStream> back = objects.open(key);
      boolean ok = false;
      if (back.isPresent()) {
        try (InputStream in = back.get()) {
          ok = java.util.Arrays.equals(in.readAllBytes(), probe);
        }
      }
      objects.delete(key);
      return HealthCheckResponse.builder().status(ok).detail("store", name).build();
    } catch (IOException | RuntimeException e) {
      // A full disk said so: the operator's first question is whether room or the store is gone.
      return HealthCheckResponse.builder()
          .status(false)
          .detail("error", (LocalDisk.isFull(e) ? "storage full: " : "") + e.getMessage())
          .build();
    }
  }
}
