package dev.kubecoderun.admin;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.stores.LostReplyProxy;
import dev.kubecoderun.stores.RealStores;
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
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The usage store contract on a real Redis, and a Redis that cannot be reached. */
@Tag("integration")
class RedisUsageStoreTest extends UsageStoreContract {
  private final List<RedisConnection> opened = new ArrayList<>();

  private RedisConnection connect(String url) {
    RedisConnection c = RealStores.redisAt(url, RealStores.uniquePrefix("usage"));
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
    AtomicInteger lost = new AtomicInteger();
    Usage usage = new Usage(store, clock, Duration.ofDays(1), lost::incrementAndGet);
    assertDoesNotThrow(() -> usage.record(failed), "the first, logged");
    assertDoesNotThrow(() -> usage.record(failed), "the next, within the minute: not logged");
    assertEquals(2, lost.get(), "both counted as lost");
    // The admin API answers these with 503 (UncheckedIOException, as every store's outage).
    assertThrows(
        UncheckedIOException.class,
        () -> usage.hourly(T0.minus(Duration.ofDays(1)), T0, null, null));
    assertThrows(UncheckedIOException.class, () -> usage.perMinute(T0, T0.plusSeconds(60), null));
    assertThrows(UncheckedIOException.class, () -> usage.failures(10));
  }

  /**
   * Redis applies a record's batch and the connection fails before its reply is read: the batch is
   * not sent again (that would count the execution twice); the record fails, as when Redis cannot
   * be reached, and the next one goes through on a new connection.
   */
  @Test
  void aRecordWhoseReplyIsLostIsCountedOnceNotAgainOnARetry() {
    try (LostReplyProxy proxy = LostReplyProxy.to(RedisServer.shared().port())) {
      RedisUsageStore store = new RedisUsageStore(connect(proxy.url()), Duration.ofDays(1));
      UsageEvent failed = event(T0, "aaaa", "py", "failed", 5);
      store.record(event(T0, "aaaa", "py", "ok", 5)); // the connection is up
      proxy.loseTheReplyTo("EVAL");
      RuntimeException thrown = null;
      try {
        store.record(failed);
      } catch (RuntimeException e) {
        thrown = e;
      }
      assertEquals(1, proxy.lost(), "the reply to the batch was lost");
      UsageReport hour = UsageReport.of(store.hours(T0, T0.plusSeconds(1)), null, null);
      assertEquals(2, hour.total().executions(), "the ok and the failed one, once");
      assertEquals(1, hour.total().failed());
      assertEquals(
          2, UsageReport.of(store.minutes(T0, T0.plusSeconds(1)), null, null).total().executions());
      assertEquals(1, store.failures(10).size(), "the failure listed once");
      assertTrue(thrown instanceof UncheckedIOException, "lost, as unreachable: " + thrown);
      store.record(failed);
      assertEquals(
          3, UsageReport.of(store.hours(T0, T0.plusSeconds(1)), null, null).total().executions());
    }
  }

  /**
   * After a Redis restart every idle pooled connection is dead. A record that is the first command
   * on one is not lost to it: the dead connection is found before the batch is sent.
   */
  @Test
  void aRecordThatIsTheFirstCommandAfterARedisRestartIsNotLost() {
    RedisUsageStore store =
        new RedisUsageStore(connect(RedisServer.shared().url()), Duration.ofDays(1));
    store.record(event(T0, "aaaa", "py", "ok", 5)); // leaves an idle pooled connection
    RedisServer.shared().stop();
    RedisServer.shared().start();
    store.record(event(T0, "aaaa", "py", "ok", 5));
    assertEquals(
        2, UsageReport.of(store.hours(T0, T0.plusSeconds(1)), null, null).total().executions());
  }
}
