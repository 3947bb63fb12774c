package dev.kubecoderun.admin;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.redis.RedisClients;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.stores.RedisServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.time.Duration;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The usage store contract on a real Redis, and a Redis that cannot be reached. */
@Tag("integration")
class RedisUsageStoreTest extends UsageStoreContract {
  private final List<RedisConnection> opened = new ArrayList<>();

  private RedisConnection connect(String url) {
    RedisConnection c =
        RedisClients.connect(
            Config.from(
                    Map.of(
                        "AUTH_ENABLED",
                        "false",
                        "REDIS_URL",
                        url,
                        "REDIS_KEY_PREFIX",
                        "kcr-usage-" + System.nanoTime() + ":",
                        "REDIS_SOCKET_TIMEOUT",
                        "2"))
                .redis());
    opened.add(c);
    return c;
  }

  @Override
  UsageStore store(Duration retention, Clock clock) {
    return new RedisUsageStore(connect(RedisServer.shared().url()), retention);
  }

  /** A loopback port nothing listens on. */
  private static int closedPort() {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @AfterEach
  void close() {
    opened.forEach(RedisConnection::close);
  }

  @Test
  void aRedisThatCannotBeReachedLosesTheRecordNotTheRequestAndFailsTheReadAsUnavailable() {
    Clock clock = Clock.fixed(T0, ZoneOffset.UTC);
    RedisUsageStore store =
        new RedisUsageStore(connect("redis://127.0.0.1:" + closedPort()), Duration.ofDays(1));
    UsageEvent failed = event(T0, "aaaa", "py", "failed", 5);
    assertThrows(UncheckedIOException.class, () -> store.record(failed));
    Usage usage = new Usage(store, clock, Duration.ofDays(1));
    assertDoesNotThrow(() -> usage.record(failed), "the first, logged");
    assertDoesNotThrow(() -> usage.record(failed), "the next, within the minute: not logged");
    // The admin API answers these with 503 (UncheckedIOException, as every store's outage).
    assertThrows(
        UncheckedIOException.class,
        () -> usage.hourly(T0.minus(Duration.ofDays(1)), T0, null, null));
    assertThrows(UncheckedIOException.class, () -> usage.perMinute(T0, T0.plusSeconds(60), null));
    assertThrows(UncheckedIOException.class, () -> usage.failures(10));
  }
}
