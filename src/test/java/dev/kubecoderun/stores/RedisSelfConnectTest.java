package dev.kubecoderun.stores;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.kubecoderun.config.Config;
import dev.kubecoderun.redis.RedisClients;
import dev.kubecoderun.redis.RedisConnection;
import dev.kubecoderun.testing.LogCapture;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.logging.Logger;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Issue 13's root cause, made to happen: a local Redis port in the ephemeral range with nothing
 * listening. Sooner or later a reconnect takes that port as its own source port and the socket
 * joins itself, echoing every command back as its reply; jedis 7.5.3 took the echo for Redis and
 * answered SADD with a list (500), HGETALL with a map built from the command. Here every command
 * must fail as "unavailable" until such a connection was refused, and Redis must then be able to
 * start on the port (the refused socket is closed) and be used by the same client.
 */
@Tag("integration")
class RedisSelfConnectTest {
  private static final Logger GUARD =
      Logger.getLogger("dev.kubecoderun.redis.NoSelfConnectSocketFactory");

  @Test
  void aConnectionToItselfIsRefusedAndRedisCanThenStartOnThePort() {
    Optional<Integer> free = FreePort.pickSelfConnectable();
    assumeTrue(free.isPresent(), "needs the kernel's ephemeral port range (Linux)");
    int port = free.get();
    Config.Redis cfg =
        Config.from(
                Map.of(
                    "AUTH_ENABLED", "false",
                    "REDIS_URL", "redis://127.0.0.1:" + port,
                    "REDIS_SOCKET_TIMEOUT", "2",
                    "REDIS_SOCKET_CONNECT_TIMEOUT", "2"))
            .redis();
    try (RedisConnection redis = RedisClients.connect(cfg)) {
      int commands = 0;
      try (LogCapture guard = LogCapture.of(GUARD)) {
        // Each command tries two connections; the kernel walks its even ports in about 14,000.
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        while (!reachedItself(guard) && System.nanoTime() < deadline) {
          commands++;
          try {
            String reply = redis.call(j -> j.ping());
            fail("nothing listens on " + port + ", yet command " + commands + " answered " + reply);
          } catch (UncheckedIOException expected) {
            // Redis unavailable: a 503; anything else (a ClassCastException) is the bug
          }
        }
        assertTrue(
            reachedItself(guard), "no connection reached itself in " + commands + " commands");
      }
      RedisServer server = RedisServer.start(port, List.of("--save", ""));
      try {
        assertEquals("PONG", redis.call(j -> j.ping()));
        redis.run(j -> j.sadd("kcr-self-connect-test", "x"));
        assertEquals(Long.valueOf(1), redis.call(j -> j.scard("kcr-self-connect-test")));
      } finally {
        server.kill();
      }
    }
  }

  /** Whether the guard logged that a connection reached itself (and was refused). */
  private static boolean reachedItself(LogCapture guard) {
    return guard.records().stream().anyMatch(r -> r.getMessage().contains("reached itself"));
  }
}
