package dev.kubecoderun.redis;

import io.helidon.health.HealthCheck;
import io.helidon.health.HealthCheckResponse;
import java.io.UncheckedIOException;

/** PING; /health/detailed shows it with its latency. */
public final class RedisHealthCheck implements HealthCheck {
  private final RedisConnection redis;
  private final String mode;

  public RedisHealthCheck(RedisConnection redis, String mode) {
    this.redis = redis;
    this.mode = mode;
  }

  @Override
  public String name() {
    return "redis";
  }

  @Override
  public HealthCheckResponse call() {
    try {
      String pong = redis.call(j -> j.ping());
      return HealthCheckResponse.builder()
          .status("PONG".equalsIgnoreCase(pong))
          .detail("mode", mode)
          .build();
    } catch (UncheckedIOException | IllegalStateException e) {
      return HealthCheckResponse.builder()
          .status(false)
          .detail("mode", mode)
          .detail("error", String.valueOf(e.getMessage()))
          .build();
    }
  }
}
