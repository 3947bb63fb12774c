package dev.kubecoderun.it;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.kubecoderun.stores.RedisSentinels;
import dev.kubecoderun.stores.RedisServer;
import dev.kubecoderun.stores.S3Server;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * A store stopped and brought back under concurrent /exec, upload, listing and download load (issue
 * 13: a Redis outage once handed requests replies meant for other commands). While the store is
 * away every request that needs it gets 503 with Retry-After; once it is back every request gets
 * 200; never a 500, and never an answer carrying another request's data.
 */
@Tag("integration")
class StoreOutageUnderLoadTest {
  static final int EXEC_CLIENTS = 2;
  static final int UPLOAD_CLIENTS = 2;
  static final Duration OUTAGE = Duration.ofSeconds(3);

  @Test
  void redisStoppedAndRestartedUnderLoad() throws Exception {
    RedisServer redis = RedisServer.shared();
    outageUnderLoad(TestServer.withRealStores(), redis::stop, restart(redis::start), false);
  }

  @Test
  void s3StoppedAndRestartedUnderLoad() throws Exception {
    S3Server s3 = S3Server.shared();
    outageUnderLoad(TestServer.withRealStores(), s3::stop, restart(s3::start), true);
  }

  /** The master stopped: the sentinels promote the replica, the API follows them. */
  @Test
  void redisSentinelFailoverUnderLoad() throws Exception {
    try (RedisSentinels redis = RedisSentinels.start()) {
      Map<String, String> env = new HashMap<>();
      env.put("REDIS_MODE", "sentinel");
      env.put("REDIS_SENTINEL_NODES", redis.nodes());
      env.put("REDIS_SENTINEL_MASTER", RedisSentinels.MASTER_NAME);
      env.put("REDIS_KEY_PREFIX", "kcr-sentinel:");
      env.put("REDIS_SOCKET_TIMEOUT", "2");
      env.put("REDIS_SOCKET_CONNECT_TIMEOUT", "2");
      env.put("MINIO_ENDPOINT", S3Server.shared().endpoint());
      env.put("MINIO_ACCESS_KEY", S3Server.ACCESS_KEY);
      env.put("MINIO_SECRET_KEY", S3Server.SECRET_KEY);
      env.put("MINIO_BUCKET", "kcr-sentinel");
      env.put("RUNNER_PY_PRELOAD", "json"); // cheap warm sandboxes, as withRealStores
      TestServer server = TestServer.start(env, "0");
      try {
        outageUnderLoad(
            server,
            redis::stopMaster,
            // Watched from the stop on: the outage ends at the last look that saw no failover (a
            // blind wait first let the failover, and the API's first requests to the new master,
            // fall inside the window counted as the outage). The sentinels' down-after (1 s) is
            // the outage's least length.
            () -> redis.awaitFailover(Duration.ofSeconds(60)),
            false);
      } finally {
        server.app.close();
      }
    }
  }

  /** Brings a store back; returns the end of the outage (System.nanoTime). */
  interface Back {
    long run() throws Exception;
  }

  /** Waits out the outage, then starts the store again. */
  static Back restart(Runnable start) {
    return () -> {
      Thread.sleep(OUTAGE.toMillis()); // the outage itself, under load
      long restarting = System.nanoTime();
      start.run();
      return restarting;
    };
  }

  /**
   * Load until every client has completed a round, then {@code stop} (returns once the store is
   * gone), {@code back}, load until every client has completed an all-200 round after that, and a
   * few more requests, which must all succeed. Requests that started after the stop and ended
   * before the outage's end must all be 503 (only those that need the object store when {@code
   * onlyS3Calls}: the others go on working).
   */
  static void outageUnderLoad(TestServer server, Runnable stop, Back back, boolean onlyS3Calls)
      throws Exception {
    long down;
    long outageEnd;
    long recovered;
    long t0 = System.nanoTime();
    OutageLoad load = new OutageLoad(server, EXEC_CLIENTS, UPLOAD_CLIENTS);
    try {
      load.awaitGoodRoundsAfter(System.nanoTime(), Duration.ofSeconds(90));
      long warm = System.nanoTime();
      stop.run();
      down = System.nanoTime();
      outageEnd = back.run();
      long backAt = System.nanoTime();
      load.awaitGoodRoundsAfter(System.nanoTime(), Duration.ofSeconds(60));
      recovered = System.nanoTime();
      load.awaitCallsAfter(recovered, 4 * (EXEC_CLIENTS + UPLOAD_CLIENTS), Duration.ofSeconds(60));
      System.out.printf(
          "phases (ms): warm-up %d, stop %d, outage %d, back %d, recovery %d, after %d%n",
          (warm - t0) / 1_000_000,
          (down - warm) / 1_000_000,
          (outageEnd - down) / 1_000_000,
          (backAt - outageEnd) / 1_000_000,
          (recovered - backAt) / 1_000_000,
          (System.nanoTime() - recovered) / 1_000_000);
    } finally {
      load.stop();
    }
    List<OutageLoad.Call> calls = load.calls();
    System.out.printf(
        "outage of %d ms; answers: %s%n",
        Duration.ofNanos(outageEnd - down).toMillis(), OutageLoad.summary(calls));
    assertNoProblems(load);
    List<OutageLoad.Call> duringOutage =
        calls.stream()
            .filter(c -> c.start() - down >= 0 && outageEnd - c.end() >= 0)
            .filter(c -> !onlyS3Calls || c.s3())
            .toList();
    assertTrue(duringOutage.size() >= 10, "few requests during the outage: " + duringOutage.size());
    assertTrue(
        duringOutage.stream().allMatch(c -> c.status() == 503),
        "during the outage: " + OutageLoad.summary(duringOutage));
    List<OutageLoad.Call> afterRecovery =
        calls.stream().filter(c -> c.start() - recovered >= 0).toList();
    assertTrue(!afterRecovery.isEmpty(), "no requests after the recovery");
    assertEquals(
        List.of(),
        afterRecovery.stream().filter(c -> c.status() != 200).toList(),
        "after the recovery every request succeeds");
  }

  static void assertNoProblems(OutageLoad load) {
    List<String> problems = load.problems();
    assertTrue(
        problems.isEmpty(),
        problems.size()
            + " problems, e.g. "
            + problems.subList(0, Math.min(10, problems.size()))
            + "\nanswers: "
            + OutageLoad.summary(load.calls()));
  }
}
