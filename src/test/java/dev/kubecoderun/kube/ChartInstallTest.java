package dev.kubecoderun.kube;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.chart.HelmRelease;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.stores.RedisServer;
import dev.kubecoderun.stores.S3Server;
import io.kubernetes.client.openapi.ApiException;
import io.kubernetes.client.openapi.apis.AppsV1Api;
import io.kubernetes.client.openapi.apis.CoreV1Api;
import io.kubernetes.client.openapi.apis.NetworkingV1Api;
import io.kubernetes.client.openapi.apis.PolicyV1Api;
import io.kubernetes.client.openapi.apis.RbacAuthorizationV1Api;
import io.kubernetes.client.openapi.models.V1Namespace;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import io.kubernetes.client.openapi.models.V1Pod;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The Helm chart installed for real: {@code helm install} (helm-java) into the test control plane,
 * the API Deployment's pod run by the test kubelet as the API itself (an "image command" stands in
 * for the API image: the test classpath, started as the chart's non-root user), with its
 * configuration from the chart's ConfigMap and Secret, the chart's ServiceAccount token bound to
 * the pod, and Redis and S3 as production stores. Then upgrade and uninstall.
 */
@Tag("kubernetes")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ChartInstallTest {
  private static final String RELEASE = "kcr";
  private static final String FULLNAME = "kcr-kubecoderun";
  private static final String API_PODS =
      "app.kubernetes.io/instance=" + RELEASE + ",app.kubernetes.io/component=api";
  private static final String SANDBOX_PODS = "app.kubernetes.io/managed-by=kubecoderun";

  private static TestCluster cluster;
  private static CoreV1Api core;
  private static String ns;
  private static Path work;
  private static final HttpClient http =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @BeforeAll
  static void install() throws Exception {
    cluster = TestCluster.get();
    core = new CoreV1Api(cluster.admin);
    ns = "kcr-helm-" + Long.toHexString(System.nanoTime() & 0xffffff);
    core.createNamespace(new V1Namespace().metadata(new V1ObjectMeta().name(ns))).execute();
    work = Files.createTempDirectory("kcr-helm-");
    installApiImage();
    helm("install", values("30"));
  }

  @AfterAll
  static void cleanUp() throws Exception {
    if (ns != null) {
      core.deleteNamespace(ns).execute();
    }
  }

  /**
   * The test kubelet runs a pod whose image is {@code kubecoderun/api} with this script instead of
   * the runner: the API from the test classpath, listening on the pod's address, its data and
   * temporary files in the pod's directories (the chart's emptyDir volumes). The classpath is
   * copied where the pod's user (65532, from the chart) can read it.
   */
  private static void installApiImage() throws IOException {
    Path images = cluster.kubeconfig.getParent().resolve("images");
    Path lib = images.resolve("kubecoderun_api.lib");
    Files.createDirectories(lib);
    List<String> classpath = new ArrayList<>();
    for (String entry : System.getProperty("java.class.path").split(":")) {
      Path from = Path.of(entry);
      if (Files.isRegularFile(from)) {
        Path to = lib.resolve(from.getFileName());
        Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
        classpath.add(to.toString());
      } else if (from.endsWith("classes") && !from.endsWith("test-classes")) {
        Path to = lib.resolve("classes");
        copyTree(from, to);
        classpath.add(to.toString());
      }
    }
    makeReadable(images);
    String java = ProcessHandle.current().info().command().orElseThrow();
    Path script = images.resolve("kubecoderun_api");
    Files.writeString(
        script,
        String.join(
            "\n",
            "#!/bin/sh",
            "# KubeCodeRun API 'image' for the test kubelet (ChartInstallTest).",
            "while [ $# -gt 0 ]; do",
            "  case \"$1\" in",
            "    --listen) listen=$2; shift 2;;",
            "    --workdir) work=$2; shift 2;;",
            "    --scratch) scratch=$2; shift 2;;",
            "    *) shift;;",
            "  esac",
            "done",
            "export API_HOST=\"${listen%:*}\" API_PORT=\"${listen##*:}\" DATA_DIR=\"$work\"",
            "exec "
                + java
                + " -Djava.io.tmpdir=\"$scratch\" -cp "
                + String.join(":", classpath)
                + " dev.kubecoderun.Main",
            ""));
    Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
  }

  private static void copyTree(Path from, Path to) throws IOException {
    try (Stream<Path> files = Files.walk(from)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Path target = to.resolve(from.relativize(f).toString());
        if (Files.isDirectory(f)) {
          Files.createDirectories(target);
        } else {
          Files.copy(f, target, StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
  }

  private static void makeReadable(Path root) throws IOException {
    try (Stream<Path> files = Files.walk(root)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Files.setPosixFilePermissions(
            f, PosixFilePermissions.fromString(Files.isDirectory(f) ? "rwxr-xr-x" : "rw-r--r--"));
      }
    }
  }

  /** The values an operator would give, plus what the test kubelet needs to find toolchains. */
  private static Path values(String maxExecutionTime) throws IOException {
    Map<String, Object> v = new LinkedHashMap<>();
    v.put("image", Map.of("tag", "test"));
    v.put("terminationGracePeriodSeconds", 20);
    v.put(
        "config",
        Map.of(
            "MAX_EXECUTION_TIME",
            maxExecutionTime,
            "SHUTDOWN_GRACE_SECONDS",
            "5",
            "LOG_FORMAT",
            "text"));
    v.put("sandbox", Map.of("podPool", Map.of("py", 1, "js", 1), "maxPods", 6, "maxJobs", 2));
    // The test cluster has no CNI: an operator of such a cluster has to say sandboxes may run
    // there.
    v.put("networkPolicy", Map.of("allowUnenforced", true));
    v.put("redis", Map.of("enabled", true, "url", RedisServer.shared().url(), "keyPrefix", ns));
    v.put(
        "minio",
        Map.of(
            "enabled",
            true,
            "endpoint",
            S3Server.shared().endpoint(),
            "bucket",
            ns,
            "accessKey",
            S3Server.ACCESS_KEY,
            "secretKey",
            S3Server.SECRET_KEY));
    v.put(
        "ingress",
        Map.of(
            "enabled",
            true,
            "hosts",
            List.of(
                Map.of(
                    "host",
                    "code.example.com",
                    "paths",
                    List.of(Map.of("path", "/", "pathType", "Prefix"))))));
    Path file = Files.createTempFile(work, "values-", ".json");
    Files.writeString(file, Json.writeString(v));
    return file;
  }

  private static void helm(String action, Path values) throws Exception {
    Path result = work.resolve(action + ".out");
    HelmProcess.run(
        HelmRelease.class,
        cluster.kubeconfig,
        work,
        action,
        Path.of("charts/kubecoderun").toAbsolutePath().toString(),
        RELEASE,
        ns,
        values == null ? "-" : values.toString(),
        result.toString());
    assertTrue(
        Files.exists(result),
        () -> "helm " + action + " failed: " + HelmProcess.read(Path.of(result + ".err")));
  }

  @Test
  @Order(1)
  void theApiServerAcceptsEveryObjectOfTheChart() throws Exception {
    var apps = new AppsV1Api(cluster.admin);
    var rbac = new RbacAuthorizationV1Api(cluster.admin);
    var net = new NetworkingV1Api(cluster.admin);
    assertEquals(1, apps.readNamespacedDeployment(FULLNAME, ns).execute().getSpec().getReplicas());
    assertEquals(
        8000,
        core.readNamespacedService(FULLNAME, ns).execute().getSpec().getPorts().get(0).getPort());
    Map<String, String> config = core.readNamespacedConfigMap(FULLNAME, ns).execute().getData();
    assertEquals("kubernetes", config.get("SANDBOX_BACKEND"));
    // The sandboxes' own namespace, held to Pod Security "restricted", with the Role and the
    // sandbox NetworkPolicy in it.
    assertEquals(sandboxNs(), config.get("K8S_NAMESPACE"));
    assertEquals(
        "restricted",
        core.readNamespace(sandboxNs())
            .execute()
            .getMetadata()
            .getLabels()
            .get("pod-security.kubernetes.io/enforce"));
    assertEquals(40, apiKey().length(), "a generated API key");
    assertNotNull(core.readNamespacedServiceAccount(FULLNAME, ns).execute());
    assertNotNull(rbac.readNamespacedRole(FULLNAME, sandboxNs()).execute());
    assertNotNull(rbac.readNamespacedRoleBinding(FULLNAME, sandboxNs()).execute());
    assertEquals(1, net.listNamespacedNetworkPolicy(ns).execute().getItems().size());
    // The sandboxes' policy and the default deny of their whole namespace.
    assertEquals(
        java.util.Set.of(FULLNAME + "-sandbox", FULLNAME + "-sandbox-namespace-deny"),
        net.listNamespacedNetworkPolicy(sandboxNs()).execute().getItems().stream()
            .map(p -> p.getMetadata().getName())
            .collect(java.util.stream.Collectors.toSet()));
    assertEquals(
        "code.example.com",
        net.readNamespacedIngress(FULLNAME, ns).execute().getSpec().getRules().get(0).getHost());
    assertNotNull(
        new PolicyV1Api(cluster.admin).readNamespacedPodDisruptionBudget(FULLNAME, ns).execute());
  }

  @Test
  @Order(2)
  void theApiPodRunsCodeInSandboxesItOwns() throws Exception {
    V1Pod api = awaitApiPod(null);
    String base = "http://" + api.getStatus().getPodIP() + ":8000";
    await(
        "the warm pools full", 120, () -> poolReady(base, "py") == 1 && poolReady(base, "js") == 1);
    // Every sandbox pod the API made is labelled with the API pod, which holds its owner Lease in
    // the sandboxes' namespace: when the pod goes for good, another API pod deletes them.
    for (V1Pod sandbox : sandboxPods()) {
      assertEquals(
          api.getMetadata().getName(),
          sandbox.getMetadata().getLabels().get("kubecoderun.io/owner"),
          sandbox.getMetadata().getName());
    }
    assertEquals(
        List.of("kcr-owner-" + api.getMetadata().getName()),
        new io.kubernetes.client.openapi.apis.CoordinationV1Api(cluster.admin)
            .listNamespacedLease(sandboxNs()).execute().getItems().stream()
                .map(l -> l.getMetadata().getName())
                .toList());
    // Kept off the API pods' nodes where the scheduler can: the term selects this API pod by the
    // labels the chart passed (K8S_API_POD_LABELS), in its namespace.
    Map<String, String> apiLabels = api.getMetadata().getLabels();
    for (V1Pod sandbox : sandboxPods()) {
      var term =
          sandbox
              .getSpec()
              .getAffinity()
              .getPodAntiAffinity()
              .getPreferredDuringSchedulingIgnoredDuringExecution()
              .get(0)
              .getPodAffinityTerm();
      assertEquals(List.of(ns), term.getNamespaces());
      var selector = term.getLabelSelector().getMatchLabels();
      assertTrue(
          !selector.isEmpty() && apiLabels.entrySet().containsAll(selector.entrySet()),
          selector + " selects the API pod " + apiLabels);
    }
    // The chart gives the API its node (NODE_NAME): the start-up check saw its pod land there (one
    // node, no scheduler).
    String separation =
        get(base, "/health/detailed")
            .path("services")
            .path("sandbox_isolation")
            .path("details")
            .path("node_separation")
            .asText();
    assertTrue(
        separation.startsWith(
            "SHARED: the probe pod ran on node " + api.getSpec().getNodeName() + ", this API"),
        separation);
    JsonNode py = exec(base, "py", "x = 6 * 7\nprint(x)");
    assertEquals("42\n", py.path("stdout").asText(), py.toString());
    assertEquals("42\n", exec(base, "js", "console.log(6 * 7)").path("stdout").asText());
    // A language without a pool runs in a Job.
    assertEquals(
        "c ok\n",
        exec(base, "c", "#include <stdio.h>\nint main(){puts(\"c ok\");return 0;}")
            .path("stdout")
            .asText());
    // The production stores from the chart's values answer.
    JsonNode health = get(base, "/health/detailed?use_cache=false");
    for (String service : List.of("redis", "s3", "kubernetes")) {
      assertEquals(
          "healthy",
          health.path("services").path(service).path("status").asText(),
          service + ": " + health);
    }
    // Python state went through Redis: the next run of the session sees the variable.
    String session = py.path("session_id").asText();
    JsonNode again =
        exec(base, Map.of("lang", "py", "code", "print(x + 1)", "session_id", session));
    assertEquals("43\n", again.path("stdout").asText(), again.toString());
  }

  @Test
  @Order(3)
  void anUpgradeKeepsTheKeyAndRollsTheApiPod() throws Exception {
    String key = apiKey();
    V1Pod before = awaitApiPod(null);
    helm("upgrade", values("25"));
    assertEquals(key, apiKey(), "the generated key survives the upgrade");
    assertEquals(
        "25",
        core.readNamespacedConfigMap(FULLNAME, ns).execute().getData().get("MAX_EXECUTION_TIME"));
    // The ConfigMap checksum changed: a new API pod replaces the old one, whose sandboxes go too
    // (it deletes them at its clean stop).
    V1Pod after = awaitApiPod(before.getMetadata().getUid());
    String base = "http://" + after.getStatus().getPodIP() + ":8000";
    await(
        "the old API pod gone",
        90,
        () ->
            apiPods().stream()
                .allMatch(p -> p.getMetadata().getUid().equals(after.getMetadata().getUid())));
    await(
        "no sandbox of the old API pod left",
        60,
        () ->
            sandboxPods().stream()
                .allMatch(
                    p ->
                        after
                            .getMetadata()
                            .getName()
                            .equals(p.getMetadata().getLabels().get("kubecoderun.io/owner"))));
    assertEquals("ok\n", exec(base, "py", "print('ok')").path("stdout").asText());
  }

  @Test
  @Order(4)
  void uninstallLeavesNoPodBehind() throws Exception {
    assertFalse(sandboxPods().isEmpty());
    helm("uninstall", null);
    await("no API or sandbox pods", 90, () -> apiPods().isEmpty() && sandboxPods().isEmpty());
  }

  private static String apiKey() throws ApiException {
    byte[] key = core.readNamespacedSecret(FULLNAME, ns).execute().getData().get("API_KEY");
    return new String(key, StandardCharsets.UTF_8);
  }

  /** The Ready API pod (other than the one with {@code notUid}), as the kubelet reported it. */
  private static V1Pod awaitApiPod(String notUid) throws Exception {
    V1Pod[] found = new V1Pod[1];
    await(
        "a ready API pod",
        120,
        () -> {
          for (V1Pod p : apiPods()) {
            if (!p.getMetadata().getUid().equals(notUid) && ready(p)) {
              found[0] = p;
              return true;
            }
          }
          return false;
        });
    return found[0];
  }

  private static boolean ready(V1Pod p) {
    return p.getMetadata().getDeletionTimestamp() == null
        && p.getStatus() != null
        && p.getStatus().getConditions() != null
        && p.getStatus().getConditions().stream()
            .anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True"));
  }

  private static List<V1Pod> apiPods() {
    return pods(ns, API_PODS);
  }

  private static List<V1Pod> sandboxPods() {
    return pods(sandboxNs(), SANDBOX_PODS);
  }

  /** The chart's default: the sandboxes in a namespace of their own. */
  private static String sandboxNs() {
    return ns + "-sandboxes";
  }

  private static List<V1Pod> pods(String namespace, String selector) {
    try {
      return core.listNamespacedPod(namespace).labelSelector(selector).execute().getItems();
    } catch (ApiException e) {
      throw new AssertionError("cannot list pods: " + e.getCode() + " " + e.getResponseBody(), e);
    }
  }

  private static int poolReady(String base, String lang) {
    try {
      return get(base, "/health/detailed?use_cache=false")
          .path("services")
          .path("sandbox")
          .path("details")
          .path("pools")
          .path(lang)
          .path("ready")
          .asInt(-1);
    } catch (IOException e) {
      return -1;
    }
  }

  private static JsonNode exec(String base, String lang, String code) throws IOException {
    return exec(base, Map.of("lang", lang, "code", code));
  }

  private static JsonNode exec(String base, Map<String, String> body) throws IOException {
    HttpResponse<String> r =
        send(
            HttpRequest.newBuilder(URI.create(base + "/v1/exec"))
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(Json.writeString(body))));
    assertEquals(200, r.statusCode(), r.body() + "\nAPI log:\n" + apiLog());
    return Json.tree(r.body().getBytes(StandardCharsets.UTF_8));
  }

  private static JsonNode get(String base, String path) throws IOException {
    HttpResponse<String> r = send(HttpRequest.newBuilder(URI.create(base + path)).GET());
    return Json.tree(r.body().getBytes(StandardCharsets.UTF_8));
  }

  private static HttpResponse<String> send(HttpRequest.Builder request) throws IOException {
    try {
      return http.send(
          request.header("X-API-Key", apiKey()).build(), HttpResponse.BodyHandlers.ofString());
    } catch (ApiException e) {
      throw new IOException("cannot read the API key: " + e.getCode(), e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException(e);
    }
  }

  /** The API pods' output, from the test kubelet's pod directories. */
  private static String apiLog() {
    StringBuilder out = new StringBuilder();
    try (Stream<Path> dirs = Files.list(cluster.kubeconfig.getParent().resolve("pods"))) {
      for (Path d : (Iterable<Path>) dirs::iterator) {
        if (d.getFileName().toString().startsWith(ns + "_" + FULLNAME)) {
          String log = HelmProcess.read(d.resolve("runner.log"));
          out.append("== ").append(d.getFileName()).append('\n');
          out.append(log.length() > 6000 ? log.substring(log.length() - 6000) : log);
        }
      }
    } catch (IOException e) {
      out.append("(no pod directories: ").append(e).append(')');
    }
    return out.toString();
  }

  private static void await(String what, int seconds, BooleanSupplier condition)
      throws InterruptedException {
    long deadline = System.nanoTime() + seconds * 1_000_000_000L;
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(
            "timed out after " + seconds + " s waiting for " + what + "\n" + apiLog());
      }
      Thread.sleep(250);
    }
  }
}
