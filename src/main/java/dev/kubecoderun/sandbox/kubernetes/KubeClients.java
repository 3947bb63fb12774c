package dev.kubecoderun.sandbox.kubernetes;

import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.util.ClientBuilder;
import io.kubernetes.client.util.KubeConfig;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/** API clients from KUBECONFIG (out of cluster) or the pod's service account (in cluster). */
final class KubeClients {
  private KubeClients() {}

  /** A client for plain requests: bounded timeouts, so a hung API server cannot hang a request. */
  static ApiClient requests(String kubeconfig) throws IOException {
    return withTimeouts(base(kubeconfig), 30);
  }

  /**
   * How often the watch's connection is pinged (HTTP/2 PING). The watch has no read timeout: a
   * connection dropped without a reset (a NAT or load balancer forgetting it, a node gone) would
   * otherwise hang it for good, the pod cache frozen while it still counts as synced. A ping not
   * answered within this interval fails the connection, and the informer lists and watches again.
   */
  static final Duration WATCH_PING = Duration.ofSeconds(30);

  /** A client for the watch: no read timeout (the server ends each watch after its own timeout). */
  static ApiClient watch(String kubeconfig) throws IOException {
    ApiClient client = withTimeouts(base(kubeconfig), 0);
    client.setHttpClient(
        client
            .getHttpClient()
            .newBuilder()
            .pingInterval(WATCH_PING.toMillis(), TimeUnit.MILLISECONDS)
            .build());
    return client;
  }

  /** Connects within 10 s; reads and writes within {@code ioSeconds} (0: no limit). */
  private static ApiClient withTimeouts(ApiClient client, long ioSeconds) {
    client.setHttpClient(
        client
            .getHttpClient()
            .newBuilder()
            .connectTimeout(10, TimeUnit.SECONDS)
            .readTimeout(ioSeconds, TimeUnit.SECONDS)
            .writeTimeout(ioSeconds, TimeUnit.SECONDS)
            .build());
    return client;
  }

  private static ApiClient base(String kubeconfig) throws IOException {
    if (kubeconfig == null) {
      return ClientBuilder.cluster().build();
    }
    Path path = Path.of(kubeconfig);
    try (Reader r = Files.newBufferedReader(path)) {
      KubeConfig config = KubeConfig.loadKubeConfig(r);
      config.setFile(path.toFile());
      return ClientBuilder.kubeconfig(config).build();
    }
  }
}
