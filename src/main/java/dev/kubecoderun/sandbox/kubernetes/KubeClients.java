package dev.kubecoderun.sandbox.kubernetes;

import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.util.ClientBuilder;
import io.kubernetes.client.util.KubeConfig;
import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** API clients from KUBECONFIG (out of cluster) or the pod's service account (in cluster). */
final class KubeClients {
  private KubeClients() {}

  /** A client for plain requests: bounded timeouts, so a hung API server cannot hang a request. */
  static ApiClient requests(String kubeconfig) throws IOException {
    return withTimeouts(base(kubeconfig), 30);
  }

  /** A client for the watch: no read timeout (the server ends each watch after its own timeout). */
  static ApiClient watch(String kubeconfig) throws IOException {
    return withTimeouts(base(kubeconfig), 0);
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
