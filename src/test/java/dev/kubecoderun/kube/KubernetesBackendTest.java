package dev.kubecoderun.kube;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.chart.HelmRender;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.testing.Eventually;
import io.kubernetes.client.openapi.ApiClient;
import io.kubernetes.client.openapi.ApiException;
import io.kubernetes.client.openapi.apis.BatchV1Api;
import io.kubernetes.client.openapi.apis.CoreV1Api;
import io.kubernetes.client.openapi.apis.RbacAuthorizationV1Api;
import io.kubernetes.client.openapi.models.AuthenticationV1TokenRequest;
import io.kubernetes.client.openapi.models.V1Container;
import io.kubernetes.client.openapi.models.V1EnvVar;
import io.kubernetes.client.openapi.models.V1Namespace;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import io.kubernetes.client.openapi.models.V1Pod;
import io.kubernetes.client.openapi.models.V1PodSpec;
import io.kubernetes.client.openapi.models.V1Role;
import io.kubernetes.client.openapi.models.V1RoleBinding;
import io.kubernetes.client.openapi.models.V1ServiceAccount;
import io.kubernetes.client.openapi.models.V1TokenRequestSpec;
import io.kubernetes.client.util.Config;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * The Kubernetes backend against a real control plane, through real HTTP to the API running as its
 * own JVM with a least-privilege service account (so RBAC is checked on every call).
 */
@Tag("kubernetes")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class KubernetesBackendTest {
  private static final String OWNER = "kcr-api";
  private static final String SELECTOR = "app.kubernetes.io/managed-by=kubecoderun";
  private static final String API_POD_LABELS =
      "{\"app.kubernetes.io/instance\":\"kcr\",\"app.kubernetes.io/component\":\"api\"}";

  private static TestCluster cluster;
  private static CoreV1Api admin;
  private static BatchV1Api adminBatch;
  // The API's namespace (its ServiceAccount, the owner pod) and the sandboxes' own, as the chart
  // lays them out by default.
  private static String ns;
  private static String sandboxNs;
  private static String ownerUid;
  private static Path saKubeconfig;
  private static ApiProcess api;
  private static String apiServiceAccount; // the chart's, in ns
  // Every Job name the API created, seen by a watch of the test's own.
  private static final Set<String> jobsSeen = ConcurrentHashMap.newKeySet();

  @BeforeAll
  static void setUp() throws Exception {
    cluster = TestCluster.get();
    admin = new CoreV1Api(cluster.admin);
    adminBatch = new BatchV1Api(cluster.admin);
    ns = "kcr-test-" + Long.toHexString(System.nanoTime() & 0xffffff);
    admin.createNamespace(new V1Namespace().metadata(new V1ObjectMeta().name(ns))).execute();
    sandboxNs = ns + "-sandboxes";
    saKubeconfig = serviceAccountKubeconfig();
    ownerUid = createOwnerPod();
    api = ApiProcess.start(apiEnv(1, 1));
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (api != null && api.process.isAlive()) {
      api.kill();
    }
    if (ns != null) {
      admin.deleteNamespace(ns).execute();
      admin.deleteNamespace(sandboxNs).execute();
    }
  }

  /**
   * The API's identity is the chart's own: its ServiceAccount, Role and RoleBinding, and the
   * sandboxes' Namespace with its Pod Security labels, rendered with helm-java (in a JVM of its
   * own, whose {@code lookup} reaches this control plane) and applied here, so the test exercises
   * exactly the permissions and the admission an operator installs.
   */
  private static Path serviceAccountKubeconfig() throws Exception {
    List<Object> docs = renderChartRbac();
    for (Object doc : docs) {
      if (doc instanceof V1Namespace namespace) {
        assertEquals(sandboxNs, namespace.getMetadata().getName());
        assertEquals(
            "restricted",
            namespace.getMetadata().getLabels().get("pod-security.kubernetes.io/enforce"));
        admin.createNamespace(namespace).execute();
      }
    }
    for (Object doc : docs) {
      var rbac = new RbacAuthorizationV1Api(cluster.admin);
      if (doc instanceof V1ServiceAccount sa) {
        admin.createNamespacedServiceAccount(ns, sa).execute();
        apiServiceAccount = sa.getMetadata().getName();
      } else if (doc instanceof V1Role role) {
        assertEquals(sandboxNs, role.getMetadata().getNamespace(), "the Role is the sandboxes'");
        rbac.createNamespacedRole(sandboxNs, role).execute();
      } else if (doc instanceof V1RoleBinding binding) {
        assertEquals(sandboxNs, binding.getMetadata().getNamespace());
        rbac.createNamespacedRoleBinding(sandboxNs, binding).execute();
      }
    }
    assertNotNull(apiServiceAccount, "the chart renders a ServiceAccount");
    String token =
        admin
            .createNamespacedServiceAccountToken(
                apiServiceAccount,
                ns,
                new AuthenticationV1TokenRequest()
                    .spec(new V1TokenRequestSpec().expirationSeconds(3600L)))
            .execute()
            .getStatus()
            .getToken();
    String ca = Base64.getEncoder().encodeToString(Files.readAllBytes(cluster.caFile));
    Path file = Files.createTempFile("kcr-sa-", ".kubeconfig");
    Files.writeString(
        file,
        String.join(
            "\n",
            "apiVersion: v1",
            "kind: Config",
            "clusters:",
            "- name: test",
            "  cluster:",
            "    server: " + cluster.server,
            "    certificate-authority-data: " + ca,
            "users:",
            "- name: kcr-api",
            "  user:",
            "    token: " + token,
            "contexts:",
            "- name: test",
            "  context: {cluster: test, user: kcr-api, namespace: " + ns + "}",
            "current-context: test",
            ""));
    return file;
  }

  /** The chart's ServiceAccount, Role and RoleBinding for this test's namespace, as objects. */
  private static List<Object> renderChartRbac() throws Exception {
    Path work = Files.createTempDirectory("kcr-chart-");
    Files.writeString(work.resolve("jobs.txt"), "rbac " + ns + "\n");
    Files.writeString(work.resolve("rbac.yaml"), "{}\n");
    HelmProcess.run(
        HelmRender.class,
        cluster.kubeconfig,
        work,
        Path.of("charts/kubecoderun").toAbsolutePath().toString(),
        work.toString());
    Path out = work.resolve("rbac.out");
    assertTrue(
        Files.exists(out),
        () -> "chart not rendered: " + HelmProcess.read(work.resolve("rbac.err")));
    List<Object> objects = new ArrayList<>();
    for (String doc : Files.readString(out).split("(?m)^---\\s*$")) {
      if (doc.contains("kind: ServiceAccount")
          || doc.contains("kind: Role\n")
          || doc.contains("kind: RoleBinding")
          || doc.contains("kind: Namespace")) {
        objects.add(io.kubernetes.client.util.Yaml.load(doc));
      }
    }
    return objects;
  }

  /** The "API pod" sandboxes are owned by (the API itself runs outside, as a test JVM). */
  private static String createOwnerPod() throws ApiException {
    V1Pod pod =
        admin
            .createNamespacedPod(
                ns,
                new V1Pod()
                    .metadata(meta(OWNER))
                    .spec(
                        new V1PodSpec()
                            .overhead(null)
                            // As the chart's API pod; and the namespace's "default" account may
                            // not be made yet by the controller-manager (the pod would be refused).
                            .serviceAccountName(apiServiceAccount)
                            .restartPolicy("Never")
                            .containers(
                                List.of(
                                    new V1Container()
                                        .name("api")
                                        .image("kubecoderun/api:test")
                                        .env(
                                            List.of(
                                                new V1EnvVar()
                                                    .name("RUNNER_TOKEN")
                                                    .value("owner-pod-token")))))))
            .execute();
    return pod.getMetadata().getUid();
  }

  private static Map<String, String> apiEnv(int poolPy, int poolJs) {
    Map<String, String> env = new HashMap<>();
    env.put("SANDBOX_BACKEND", "kubernetes");
    env.put("KUBECONFIG", saKubeconfig.toString());
    env.put("K8S_NAMESPACE", sandboxNs);
    env.put("POD_NAMESPACE", ns);
    env.put("K8S_OWNER_LEASE_SECONDS", "5");
    // Fixed pool sizes, which these tests count on (poolsFollowDemand turns it on).
    env.put("POD_POOL_FOLLOW_DEMAND", "false");
    env.put("POD_NAME", OWNER);
    env.put("POD_UID", ownerUid);
    env.put("POD_POOL_PY", Integer.toString(poolPy));
    env.put("POD_POOL_JS", Integer.toString(poolJs));
    env.put("MAX_FILE_SIZE_MB", "2");
    env.put("SANDBOX_START_TIMEOUT_SECONDS", "60");
    env.put("K8S_RUNTIME_CLASS_NAME", "");
    env.put("K8S_POD_NODE_SELECTOR", "{\"kubernetes.io/os\":\"linux\"}");
    env.put(
        "K8S_POD_TOLERATIONS",
        "[{\"key\":\"sandbox\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}]");
    env.put("K8S_IMAGE_PULL_SECRETS", "regcred");
    // As the chart sets them: the API pods' labels (sandbox pods' anti-affinity) and the API pod's
    // node, which is the test kubelet's, where every pod runs.
    env.put("K8S_API_POD_LABELS", API_POD_LABELS);
    env.put("NODE_NAME", cluster.node);
    // The test cluster has no CNI, so nothing enforces NetworkPolicy (the start-up check says so):
    // sandboxes are made all the same only because of this (sandboxesAreRefusedWhere...).
    env.put("K8S_ALLOW_UNENFORCED_NETWORK_POLICY", "true");
    return env;
  }

  private static V1ObjectMeta meta(String name) {
    return new V1ObjectMeta().name(name).namespace(ns);
  }

  private static List<V1Pod> sandboxPods(String extraSelector) throws ApiException {
    return admin
        .listNamespacedPod(sandboxNs)
        .labelSelector(SELECTOR + (extraSelector.isEmpty() ? "" : "," + extraSelector))
        .execute()
        .getItems();
  }

  private static List<V1Pod> readyPool(String lang) throws ApiException {
    return sandboxPods("kubecoderun.io/role=pool,kubecoderun.io/language=" + lang).stream()
        .filter(KubernetesBackendTest::ready)
        .toList();
  }

  private static boolean ready(V1Pod p) {
    return p.getMetadata().getDeletionTimestamp() == null
        && p.getStatus() != null
        && p.getStatus().getConditions() != null
        && p.getStatus().getConditions().stream()
            .anyMatch(c -> c.getType().equals("Ready") && c.getStatus().equals("True"));
  }

  private static void await(String what, int seconds, BooleanSupplier condition)
      throws InterruptedException {
    Eventually.await(
        what, java.time.Duration.ofSeconds(seconds), condition, () -> "API log:\n" + api.logTail());
  }

  private static BooleanSupplier quietly(ThrowingSupplier s) {
    return () -> {
      try {
        return s.get();
      } catch (ApiException | java.io.IOException e) {
        return false;
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return false;
      }
    };
  }

  @FunctionalInterface
  interface ThrowingSupplier {
    boolean get() throws ApiException, java.io.IOException, InterruptedException;
  }

  /**
   * Stops the API (SIGTERM), waits until its sandboxes are gone, and starts one with {@code env}.
   */
  private static void restartApi(Map<String, String> env) throws Exception {
    api.close();
    await("the previous API's sandboxes deleted", 30, quietly(() -> sandboxPods("").isEmpty()));
    api = ApiProcess.start(env);
  }

  /** Back to the API the other tests expect: a pool of one py and one js pod, both ready. */
  private static void restoreDefaultApi() throws Exception {
    restartApi(apiEnv(1, 1));
    awaitPoolsFull("the pools full again");
  }

  private static void awaitPoolsFull(String what) throws InterruptedException {
    await(what, 90, quietly(() -> readyPool("py").size() == 1 && readyPool("js").size() == 1));
  }

  private static void awaitReadyPyPod() throws InterruptedException {
    await("a ready py pool pod", 90, quietly(() -> readyPool("py").size() == 1));
  }

  /** The value of an env var of a pod's container (it must be there). */
  private static String envOf(V1Pod pod, String name) {
    return pod.getSpec().getContainers().get(0).getEnv().stream()
        .filter(e -> e.getName().equals(name))
        .findFirst()
        .orElseThrow()
        .getValue();
  }

  /** sandbox_isolation in /health/detailed, once the start-up check has decided. */
  private static JsonNode awaitIsolationChecked() throws InterruptedException {
    JsonNode[] iso = new JsonNode[1];
    await(
        "the isolation check done",
        90,
        quietly(
            () -> {
              iso[0] = isolationReport();
              return iso[0].path("details").has("checked_at");
            }));
    return iso[0];
  }

  @Test
  @Order(1)
  void pythonAndNodeRunOnPoolPodsAndThePoolRefills() throws Exception {
    for (String lang : List.of("py", "js")) {
      await("a ready " + lang + " pool pod", 90, quietly(() -> readyPool(lang).size() == 1));
      String used = readyPool(lang).get(0).getMetadata().getName();
      String code =
          lang.equals("py")
              ? "import socket\nprint(6*7, socket.gethostname())"
              : "console.log(6*7)";
      JsonNode r = api.exec(lang, code);
      assertTrue(r.path("stdout").asText().startsWith("42"), r.toString());
      // The used pod is deleted and a fresh one takes its place.
      await(
          "the used " + lang + " pod deleted and a new one ready",
          90,
          quietly(
              () -> {
                List<V1Pod> now = sandboxPods("kubecoderun.io/language=" + lang);
                return now.stream().noneMatch(p -> p.getMetadata().getName().equals(used))
                    && readyPool(lang).size() == 1;
              }));
    }
  }

  @Test
  @Order(2)
  void aPoolPodThatDiesWhileWaitingIsReplaced() throws Exception {
    await("the API's py pool full", 90, () -> apiPoolReady("py") == 1);
    String victim = readyPool("py").get(0).getMetadata().getName();
    admin.deleteNamespacedPod(victim, sandboxNs).gracePeriodSeconds(0).execute();
    // Replaced from the watch event, not when a request finds it dead: well within a start timeout.
    awaitPyPoolRefilledWithout(victim, "a new py pool pod in place of the deleted one", 30);
    assertEquals("42\n", api.exec("py", "print(6*7)").path("stdout").asText());
  }

  @Test
  @Order(2)
  void aPoolPodThatDiesWhileStartingIsGivenUpAtOnceAndReplaced() throws Exception {
    await("the API's py pool full", 90, () -> apiPoolReady("py") == 1);
    String used = readyPool("py").get(0).getMetadata().getName();
    assertEquals("42\n", api.exec("py", "print(6*7)").path("stdout").asText());
    // The refill pod: deleted as soon as the API server has it, long before its interpreter is up.
    String[] starting = new String[1];
    await(
        "the refill pod created",
        30,
        quietly(
            () -> {
              for (V1Pod p : sandboxPods("kubecoderun.io/role=pool,kubecoderun.io/language=py")) {
                if (!p.getMetadata().getName().equals(used)
                    && p.getMetadata().getDeletionTimestamp() == null) {
                  starting[0] = p.getMetadata().getName();
                  return true;
                }
              }
              return false;
            }));
    admin.deleteNamespacedPod(starting[0], sandboxNs).gracePeriodSeconds(0).execute();
    // SANDBOX_START_TIMEOUT_SECONDS is 60 here: a replacement ready well before it means the API
    // gave up on the deleted pod at once instead of waiting for it to time out.
    await(
        "a py pool pod other than the deleted one, ready in the API's pool",
        30,
        () ->
            apiPoolReady("py") == 1
                && quietly(
                        () ->
                            readyPool("py").stream()
                                .noneMatch(p -> p.getMetadata().getName().equals(starting[0])))
                    .getAsBoolean());
    assertEquals("42\n", api.exec("py", "print(6*7)").path("stdout").asText());
  }

  @Test
  @Order(3)
  void theApiRidesOutAnApiServerOutageAndItsWatchResumes() throws Exception {
    await("the API's py pool full", 90, () -> apiPoolReady("py") == 1);
    String warm = readyPool("py").get(0).getMetadata().getName();
    try (var background = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      var restart =
          background.submit(
              () -> {
                cluster.restart("kube-apiserver", 8);
                return null;
              });
      await(
          "the API server down",
          30,
          () -> !quietly(() -> admin.listNamespace().execute() != null).getAsBoolean());
      // A warm sandbox needs no API server: the run goes through, its delete fails for now.
      assertEquals("during\n", api.exec("py", "print('during')").path("stdout").asText());
      restart.get();
    }
    // The used pod is deleted once the API server is back (the stray sweep), and the watch,
    // resumed,
    // sees a warm pod deleted behind the API's back and has it replaced.
    await(
        "the pod used during the outage deleted",
        60,
        quietly(
            () -> sandboxPods("").stream().noneMatch(p -> p.getMetadata().getName().equals(warm))));
    await("the pool full again", 60, () -> apiPoolReady("py") == 1);
    String next = readyPool("py").get(0).getMetadata().getName();
    admin.deleteNamespacedPod(next, sandboxNs).gracePeriodSeconds(0).execute();
    awaitPyPoolRefilledWithout(next, "a replacement for the pod deleted after the outage", 30);
    assertEquals("after\n", api.exec("py", "print('after')").path("stdout").asText());
  }

  @Test
  @Order(2)
  void aSandboxPodDeletedInTheMiddleOfARunEndsTheRunWithAClearErrorAndTheServiceGoesOn()
      throws Exception {
    await("the API's py pool full", 90, () -> apiPoolReady("py") == 1);
    String pod = readyPool("py").get(0).getMetadata().getName();
    String started = "started-" + System.nanoTime();
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      var run =
          runs.submit(
              () ->
                  api.execResponse(
                      "py",
                      "import time\nprint('started', flush=True)\n"
                          + markIn(started)
                          + "time.sleep(60)"));
      await("the run's code running in the pod", 60, quietly(() -> markedInSomePod(started)));
      admin.deleteNamespacedPod(pod, sandboxNs).gracePeriodSeconds(0).execute();
      // The pod's runner gets SIGTERM: it kills the run and still answers, saying why.
      var r = run.get(30, TimeUnit.SECONDS);
      assertEquals(200, r.statusCode(), r.body());
      JsonNode result = Json.tree(r.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
      assertEquals("error", result.path("status").asText(), r.body());
      assertEquals("started\n", result.path("stdout").asText(), r.body());
      assertTrue(
          result.path("stderr").asText().contains("the sandbox was stopped during the run"),
          r.body());
    }
    await("the pool full again", 60, () -> apiPoolReady("py") == 1);
    assertEquals("42\n", api.exec("py", "print(6*7)").path("stdout").asText());
  }

  /**
   * Files with ordinary and odd names come back from a sandbox pod, where the runner is not root: a
   * file it cannot read (mode 000) is named in skipped_files, one over MAX_FILE_SIZE_MB (2 here)
   * too, and the others still come back; each goes back into the next run under its returned name.
   */
  @Test
  @Order(2)
  void generatedFilesOfAnyNameComeBackFromAPodAndTheOnesThatCannotAreNamed() throws Exception {
    // Deep and long, yet a name that can be sent back as an input (at most 1024 bytes in all).
    String nested = String.join("/", java.util.Collections.nCopies(5, "\u6570".repeat(60)));
    Map<String, String> names = new java.util.LinkedHashMap<>(); // written (UTF-8) -> returned
    for (String n :
        List.of(
            "a b.txt",
            "\u00e9.txt",
            "\u6570\u636e.csv",
            "a+b.txt",
            "a%20b.txt",
            "a#b.txt",
            "a?b.txt",
            "it's.txt",
            "a&b.txt",
            "q\"q.txt",
            "n".repeat(251) + ".txt",
            nested + "/deep file.txt")) {
      names.put(n, n);
    }
    names.put("new\nline.txt", "new_line.txt");
    StringBuilder code = new StringBuilder("import os\n");
    for (String n : names.keySet()) {
      code.append("p = ").append(py(n.getBytes(UTF_8))).append('\n');
      code.append("os.makedirs(os.path.dirname(p) or b'.', exist_ok=True)\n");
      code.append("open(p, 'wb').write(b'content of ' + p)\n");
    }
    code.append("open(b'bad\\xff.txt', 'wb').write(b'not utf-8')\n");
    code.append("open('locked.txt', 'w').write('x')\nos.chmod('locked.txt', 0)\n");
    code.append("open('big.bin', 'wb').write(b'0' * (3 << 20))\n");
    code.append("os.makedirs('secret/inner')\nopen('secret/inner/x.txt', 'w').write('x')\n");
    code.append("os.chmod('secret', 0)\n");
    JsonNode run = api.exec(Map.of("lang", "py", "code", code.toString()));
    assertEquals("ok", run.path("status").asText(), run.toString());
    String sid = run.path("session_id").asText();

    Map<String, JsonNode> returned = new HashMap<>();
    run.path("files").forEach(f -> returned.put(f.path("name").asText(), f));
    Set<String> expected = new HashSet<>(names.values());
    expected.add("bad\ufffd.txt");
    assertEquals(expected, returned.keySet(), run.toString());
    Map<String, String> skipped = new HashMap<>();
    run.path("skipped_files")
        .forEach(f -> skipped.put(f.path("name").asText(), f.path("reason").asText()));
    assertEquals(
        Map.of("locked.txt", "unreadable", "big.bin", "too_large", "secret", "unreadable"),
        skipped);
    assertTrue(
        run.path("stderr").asText().contains("generated file 'locked.txt' not kept"),
        run.toString());
    JsonNode delivery = run.path("artifact_delivery");
    assertEquals("partial", delivery.path("status").asText(), run.toString());
    assertEquals(expected.size() + 3, delivery.path("attempted").asInt());
    assertEquals(3, delivery.path("failed").asInt());

    // Downloads, and the next run on another pod gets every file back under its returned name.
    List<Map<String, Object>> refs = new ArrayList<>();
    StringBuilder check = new StringBuilder("import hashlib\n");
    for (var e : names.entrySet()) {
      JsonNode f = returned.get(e.getValue());
      byte[] content = ("content of " + e.getKey()).getBytes(UTF_8);
      var download = api.getBytes("/v1/download/" + sid + "/" + f.path("id").asText());
      assertEquals(200, download.statusCode());
      org.junit.jupiter.api.Assertions.assertArrayEquals(content, download.body(), e.getValue());
      refs.add(
          Map.of("id", f.path("id").asText(), "storage_session_id", sid, "name", e.getValue()));
      check
          .append("assert open(")
          .append(py(e.getValue().getBytes(UTF_8)))
          .append(", 'rb').read() == ")
          .append(py(content))
          .append("\n");
    }
    check.append("print('all', ").append(names.size()).append(")\n");
    JsonNode next = api.exec(Map.of("lang", "py", "code", check.toString(), "files", refs));
    assertEquals("all " + names.size() + "\n", next.path("stdout").asText(), next.toString());
  }

  private static String py(byte[] b) {
    StringBuilder sb = new StringBuilder("b'");
    for (byte x : b) {
      sb.append(String.format("\\x%02x", x & 0xff));
    }
    return sb.append('\'').toString();
  }

  /** Waits until the API's py pool is full again with a pod other than {@code gone}. */
  private static void awaitPyPoolRefilledWithout(String gone, String what, int seconds)
      throws InterruptedException {
    await(
        what,
        seconds,
        () ->
            apiPoolReady("py") == 1
                && quietly(
                        () ->
                            readyPool("py").size() == 1
                                && !readyPool("py").get(0).getMetadata().getName().equals(gone))
                    .getAsBoolean());
  }

  /**
   * A Python line that makes {@code name} in the run's temp dir (TMPDIR, /tmp/kcr/tmp in a pod),
   * which {@link #markedInSomePod} sees: how a test knows how far a run's code has got.
   */
  private static String markIn(String name) {
    return "open('/tmp/kcr/tmp/" + name + "', 'w').close()\n";
  }

  /**
   * Whether the code of a run in some sandbox pod has made {@code name} with {@link #markIn}: the
   * test kubelet keeps each pod's emptyDir volumes on this host, under {@code
   * <state>/pods/<namespace>_<pod>_<uid>/volumes/}.
   */
  private static boolean markedInSomePod(String name) throws java.io.IOException {
    try (var pods = Files.list(cluster.kubeconfig.getParent().resolve("pods"))) {
      return pods.filter(d -> d.getFileName().toString().startsWith(sandboxNs + "_"))
          .anyMatch(d -> Files.exists(d.resolve("volumes/tmp/kcr/tmp").resolve(name)));
    }
  }

  /** Ready sandboxes of a language in the API's own pool, from /health/detailed. */
  private static int apiPoolReady(String lang) {
    return apiPool(lang, "ready");
  }

  /** One count ({@code ready}, {@code in_use}...) of a language's pool in /health/detailed. */
  private static int apiPool(String lang, String count) {
    try {
      return poolStats().path(lang).path(count).asInt(-1);
    } catch (java.io.IOException e) {
      return -1;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return -1;
    }
  }

  @Test
  @Order(4)
  void aCompiledLanguageRunsInAOneRunJobThatIsDeletedAfterwards() throws Exception {
    Thread watcher = Thread.ofVirtual().start(KubernetesBackendTest::recordJobs);
    try {
      JsonNode r =
          api.exec("c", "#include <stdio.h>\nint main(){printf(\"%d\\n\", 6*7);return 0;}");
      assertEquals("42\n", r.path("stdout").asText(), r.toString());
    } finally {
      watcher.interrupt();
    }
    assertEquals(1, jobsSeen.size(), "one Job for one run: " + jobsSeen);
    String job = jobsSeen.iterator().next();
    assertTrue(job.startsWith("kcr-job-c-"), job);
    await(
        "the Job and its pod deleted",
        60,
        quietly(
            () ->
                adminBatch.listNamespacedJob(sandboxNs).execute().getItems().isEmpty()
                    && sandboxPods("kubecoderun.io/role=job").isEmpty()));
  }

  /** Polls the Jobs the API creates while the C run is going on (a test-side helper). */
  private static void recordJobs() {
    while (!Thread.currentThread().isInterrupted()) {
      try {
        adminBatch
            .listNamespacedJob(sandboxNs)
            .execute()
            .getItems()
            .forEach(j -> jobsSeen.add(j.getMetadata().getName()));
        Thread.sleep(50);
      } catch (ApiException e) {
        // keep polling
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  @Test
  @Order(5)
  void poolPodsHaveTheHardenedSpec() throws Exception {
    V1Pod pod = readyPool("py").get(0);
    Map<String, String> labels = pod.getMetadata().getLabels();
    assertEquals("kubecoderun", labels.get("app.kubernetes.io/managed-by"));
    assertEquals("py", labels.get("kubecoderun.io/language"));
    assertEquals("pool", labels.get("kubecoderun.io/role"));
    assertEquals(OWNER, labels.get("kubecoderun.io/owner"));
    // No ownerReference across namespaces (the garbage collector would delete it at once): the
    // owner Lease stands in.
    var refs = pod.getMetadata().getOwnerReferences();
    assertTrue(refs == null || refs.isEmpty(), "no owner across namespaces: " + refs);

    V1PodSpec spec = pod.getSpec();
    assertEquals("Never", spec.getRestartPolicy());
    assertEquals("sandbox", spec.getHostname());
    assertEquals(Boolean.FALSE, spec.getAutomountServiceAccountToken());
    assertEquals(Boolean.FALSE, spec.getEnableServiceLinks());
    // Twice what a run may use of its pod with the default settings (docs/kubernetes.md).
    assertEquals(8890L, spec.getActiveDeadlineSeconds());
    assertNull(spec.getRuntimeClassName());
    assertEquals(Map.of("kubernetes.io/os", "linux"), spec.getNodeSelector());
    assertEquals("sandbox", spec.getTolerations().get(0).getKey());
    assertEquals("regcred", spec.getImagePullSecrets().get(0).getName());
    // Kept off the API pods' nodes where the scheduler can: the API server takes the term that
    // names the API pods' namespace from the sandboxes' own.
    var anti = spec.getAffinity().getPodAntiAffinity();
    assertTrue(anti.getRequiredDuringSchedulingIgnoredDuringExecution().isEmpty(), anti.toString());
    var preferred = anti.getPreferredDuringSchedulingIgnoredDuringExecution().get(0);
    assertEquals(100, preferred.getWeight());
    assertEquals("kubernetes.io/hostname", preferred.getPodAffinityTerm().getTopologyKey());
    assertEquals(List.of(ns), preferred.getPodAffinityTerm().getNamespaces());
    assertEquals(
        Map.of("app.kubernetes.io/instance", "kcr", "app.kubernetes.io/component", "api"),
        preferred.getPodAffinityTerm().getLabelSelector().getMatchLabels());
    // Its own user namespace (the start-up check found the test kubelet provides them).
    assertEquals(Boolean.FALSE, spec.getHostUsers());
    var psc = spec.getSecurityContext();
    assertEquals(65532L, psc.getRunAsUser());
    assertEquals(65532L, psc.getRunAsGroup());
    assertEquals(65532L, psc.getFsGroup());
    assertEquals(Boolean.TRUE, psc.getRunAsNonRoot());
    assertEquals("RuntimeDefault", psc.getSeccompProfile().getType());

    V1Container c = spec.getContainers().get(0);
    assertEquals("kubecoderun/python:latest", c.getImage());
    // The test kubelet ran it from the built image (scripts/build-images), not as a host process.
    String imageId = pod.getStatus().getContainerStatuses().get(0).getImageID();
    assertTrue(imageId.startsWith("sha256:"), "not run from the python image: " + imageId);
    assertEquals("IfNotPresent", c.getImagePullPolicy());
    var sc = c.getSecurityContext();
    assertEquals(Boolean.FALSE, sc.getAllowPrivilegeEscalation());
    assertEquals(Boolean.TRUE, sc.getReadOnlyRootFilesystem());
    assertEquals(Boolean.TRUE, sc.getRunAsNonRoot());
    assertEquals(List.of("ALL"), sc.getCapabilities().getDrop());
    assertEquals("/health", c.getReadinessProbe().getHttpGet().getPath());
    assertEquals(8080, c.getReadinessProbe().getHttpGet().getPort().getIntValue());
    for (String r : List.of("cpu", "memory", "ephemeral-storage")) {
      assertNotNull(c.getResources().getLimits().get(r), "limit " + r);
      assertNotNull(c.getResources().getRequests().get(r), "request " + r);
    }
    assertEquals("1", c.getResources().getLimits().get("cpu").toSuffixedString());
    assertEquals("512Mi", c.getResources().getLimits().get("memory").toSuffixedString());
    Set<String> mounts = new HashSet<>();
    c.getVolumeMounts().forEach(m -> mounts.add(m.getMountPath()));
    assertEquals(Set.of("/mnt/data", "/tmp"), mounts);
    spec.getVolumes()
        .forEach(
            v ->
                assertEquals(
                    "1Gi", v.getEmptyDir().getSizeLimit().toSuffixedString(), v.getName()));
    // The runner token's hash only: the pod spec does not hold the token itself.
    assertTrue(
        c.getEnv().stream().noneMatch(e -> e.getName().equals("RUNNER_TOKEN")), "no RUNNER_TOKEN");
    String hash = envOf(pod, "RUNNER_TOKEN_SHA256");
    assertTrue(hash.matches("[0-9a-f]{64}"), "the hash of a runner token: " + hash);
    String otherHash = envOf(readyPool("js").get(0), "RUNNER_TOKEN_SHA256");
    assertFalse(hash.equals(otherHash), "one token per pod");
  }

  @Test
  @Order(6)
  void theApiRunsWithLeastPrivilegeAndReportsTheKubernetesApi() throws Exception {
    ApiClient sa = Config.fromConfig(saKubeconfig.toString());
    for (String namespace : List.of(ns, sandboxNs)) {
      ApiException denied =
          assertThrows(
              ApiException.class,
              () -> new CoreV1Api(sa).listNamespacedSecret(namespace).execute());
      assertEquals(403, denied.getCode());
    }
    // Nothing at all in its own namespace: its Role is the sandboxes'.
    assertEquals(
        403,
        assertThrows(ApiException.class, () -> new CoreV1Api(sa).listNamespacedPod(ns).execute())
            .getCode());
    // Its owner Lease is there, renewed.
    var leases =
        new io.kubernetes.client.openapi.apis.CoordinationV1Api(cluster.admin)
            .listNamespacedLease(sandboxNs)
            .execute()
            .getItems();
    assertEquals(
        List.of("kcr-owner-" + OWNER),
        leases.stream().map(l -> l.getMetadata().getName()).toList());
    var r = api.get("/health/detailed?use_cache=false");
    JsonNode k8s = Json.tree(r.body().getBytes()).path("services").path("kubernetes");
    assertEquals("healthy", k8s.path("status").asText(), r.body());
    assertEquals(sandboxNs, k8s.path("details").path("namespace").asText(), r.body());
  }

  /**
   * The start-up check runs a probe pod and reports what the cluster gives sandboxes: the test
   * kubelet gives pods with hostUsers: false a user namespace, the kube-up's podPidsLimit (1024),
   * and no NetworkPolicy at all (no CNI: a sandbox reaches the API).
   */
  @Test
  @Order(6)
  void theStartUpCheckReportsWhatTheClusterGivesSandboxes() throws Exception {
    JsonNode iso = awaitIsolationChecked();
    JsonNode d = iso.path("details");
    assertEquals("unhealthy", iso.path("status").asText(), iso.toString());
    assertTrue(d.path("user_namespaces").asText().startsWith("on: "), d.toString());
    assertTrue(
        d.path("sandbox_uids").asText().startsWith("65532, in a user namespace"), d.toString());
    assertTrue(d.path("pods_pids_limit").asText().startsWith("1024 "), d.toString());
    // One node: the probe pod ran where the API pod (NODE_NAME) does, reported, not unhealthy
    // (the NetworkPolicy makes this report unhealthy).
    assertTrue(
        d.path("node_separation")
            .asText()
            .startsWith(
                "SHARED: the probe pod ran on node "
                    + cluster.node
                    + ", this API pod's, where a sandbox escaping"),
        d.toString());
    assertTrue(
        d.path("node_separation").asText().contains("preferred anti-affinity to the API pods"),
        d.toString());
    // The sandboxes' namespace is labelled restricted, and the API server refuses (as a dry run)
    // a pod that breaks it.
    assertTrue(
        d.path("pod_security").asText().startsWith("enforced: a pod that breaks"), d.toString());
    assertTrue(d.path("pod_security").asText().contains("PodSecurity"), d.toString());
    String apiAddress = api.base.getHost() + ":" + api.base.getPort();
    assertEquals("connected", d.path("egress").path(apiAddress).asText(), d.toString());
    assertTrue(
        d.path("network_policy")
            .asText()
            .startsWith("NOT enforced: a sandbox reached " + apiAddress),
        d.toString());
    // The probe pod is gone; only the pools are left.
    await(
        "the probe pod deleted",
        30,
        quietly(() -> sandboxPods("kubecoderun.io/role=probe").isEmpty()));
  }

  /**
   * Where the start-up check finds that a sandbox reaches what the NetworkPolicy should keep it
   * from, no sandbox is made unless the operator allowed it: a run gets a 503 that says why.
   */
  @Test
  @Order(6)
  void sandboxesAreRefusedWhereTheNetworkPolicyIsNotEnforced() throws Exception {
    Map<String, String> env = apiEnv(0, 0);
    env.remove("K8S_ALLOW_UNENFORCED_NETWORK_POLICY");
    restartApi(env);
    JsonNode iso = awaitIsolationChecked();
    assertTrue(
        iso.path("details").path("network_policy").asText().startsWith("NOT enforced"),
        iso.toString());
    HttpResponse<String> r = api.execResponse("py", "print(1)");
    assertEquals(503, r.statusCode(), r.body());
    assertTrue(
        r.body().contains("the NetworkPolicy not enforced")
            && r.body().contains("K8S_ALLOW_UNENFORCED_NETWORK_POLICY=true"),
        r.body());
    assertTrue(sandboxPods("kubecoderun.io/role in (pool,job)").isEmpty(), "no sandbox pod made");
    restoreDefaultApi();
  }

  /**
   * The start-up check fails closed. While its probe pod cannot run (here the test deletes each one
   * as it appears, as a quota or an image that cannot be pulled would stop it), nothing has shown
   * that sandboxes cannot reach what they must not: a run gets a 503 saying so, and the pool's warm
   * pod, made meanwhile, is not handed out, and /ready says the API is not ready (a load balancer
   * sends runs to replicas whose check has run). The check is run again until a probe pod runs;
   * that one finds the NetworkPolicy not enforced (no CNI here), and the pool's pod is deleted; the
   * API is ready then, and its runs are told why they are refused.
   */
  @Test
  @Order(6)
  void sandboxesWaitUntilTheStartUpCheckHasRunAndAreDeletedWhenItFindsTheNetworkOpen()
      throws Exception {
    Map<String, String> env = apiEnv(0, 1);
    env.remove("K8S_ALLOW_UNENFORCED_NETWORK_POLICY");
    java.util.concurrent.atomic.AtomicBoolean blocking =
        new java.util.concurrent.atomic.AtomicBoolean(true);
    Set<String> deletedProbes = ConcurrentHashMap.newKeySet();
    Thread blocker =
        Thread.ofVirtual()
            .start(
                () -> {
                  while (blocking.get()) {
                    try {
                      for (V1Pod p : sandboxPods("kubecoderun.io/role=probe")) {
                        String name = p.getMetadata().getName();
                        if (deletedProbes.add(name)) {
                          admin.deleteNamespacedPod(name, sandboxNs).execute();
                        }
                      }
                      Thread.sleep(20); // polls the pods: a probe pod lives seconds
                    } catch (ApiException e) {
                      // gone already, or the API server busy: the next round
                    } catch (InterruptedException e) {
                      return;
                    }
                  }
                });
    String warm;
    try {
      api.close();
      await("the previous API's sandboxes deleted", 30, quietly(() -> sandboxPods("").isEmpty()));
      api = ApiProcess.startListening(env);
      await(
          "the check's probe pod did not run",
          90,
          quietly(
              () ->
                  isolationReport()
                      .path("details")
                      .path("network_policy")
                      .asText()
                      .startsWith("not checked: the probe pod did not run")));
      await("a ready js pool pod", 90, quietly(() -> readyPool("js").size() == 1));
      warm = readyPool("js").get(0).getMetadata().getName();
      HttpResponse<String> r = api.execResponse("js", "console.log(1)");
      assertEquals(503, r.statusCode(), r.body());
      assertTrue(
          r.body().contains("sandboxes wait for the start-up check to show that a sandbox cannot"),
          r.body());
      assertTrue(r.headers().firstValue("Retry-After").isPresent(), r.headers().toString());
      HttpResponse<String> ready = api.get("/ready");
      assertEquals(503, ready.statusCode(), ready.body());
      assertTrue(ready.body().contains("waiting for the sandbox isolation check"), ready.body());
      assertEquals(
          List.of(warm),
          readyPool("js").stream().map(p -> p.getMetadata().getName()).toList(),
          "the warm pod stays in the pool, not handed out");
      assertTrue(sandboxPods("kubecoderun.io/role=job").isEmpty(), "no Job made for the run");
      // Each check tries twice (with hostUsers: false, then without): a third pod is a retry.
      await("the check run again", 60, () -> deletedProbes.size() >= 3);
    } finally {
      blocking.set(false);
      blocker.join();
    }
    await(
        "a check whose probe pod ran",
        90,
        quietly(
            () ->
                isolationReport()
                    .path("details")
                    .path("network_policy")
                    .asText()
                    .startsWith("NOT enforced")));
    await(
        "the pool's pod deleted",
        30,
        quietly(
            () ->
                sandboxPods("kubecoderun.io/role=pool").stream()
                    .noneMatch(p -> p.getMetadata().getName().equals(warm))));
    assertEquals(200, api.get("/ready").statusCode(), "ready: it says why it refuses");
    HttpResponse<String> r = api.execResponse("js", "console.log(1)");
    assertEquals(503, r.statusCode(), r.body());
    assertTrue(r.body().contains("the NetworkPolicy not enforced"), r.body());
    assertTrue(readyPool("js").isEmpty(), "no pool pod made again");
    restoreDefaultApi();
  }

  private static JsonNode isolationReport() throws java.io.IOException, InterruptedException {
    return Json.tree(api.get("/health/detailed?use_cache=false").body().getBytes())
        .path("services")
        .path("sandbox_isolation");
  }

  /**
   * RLIMIT_NPROC counts per host uid across the node: with every pod on one uid, a fork bomb in one
   * pod would leave no process to any other. Each pod has host ids of its own (a user namespace),
   * or, with K8S_USER_NAMESPACES=off, a uid of its own: a fork bomb holding its limit in one pod
   * does not stop the next pod from starting 60 processes.
   */
  @Test
  @Order(6)
  void aForkBombInOnePodDoesNotStopAnotherPodsForks() throws Exception {
    forkBombBesideAnotherPod();
    Map<String, String> env = apiEnv(1, 1);
    env.put("K8S_USER_NAMESPACES", "off");
    env.put("K8S_SANDBOX_UIDS", "200000-299999");
    restartApi(env);
    awaitPoolsFull("the pools full");
    Set<Long> uids = new HashSet<>();
    for (V1Pod p : readyPool("py")) {
      assertNull(p.getSpec().getHostUsers());
      long uid = p.getSpec().getSecurityContext().getRunAsUser();
      assertTrue(uid >= 200000 && uid <= 299999, "uid " + uid);
      assertEquals(uid, p.getSpec().getContainers().get(0).getSecurityContext().getRunAsUser());
      assertEquals(uid, p.getSpec().getSecurityContext().getFsGroup());
      uids.add(uid);
    }
    uids.add(readyPool("js").get(0).getSpec().getSecurityContext().getRunAsUser());
    assertEquals(2, uids.size(), "one uid per pod: " + uids);
    JsonNode iso = awaitIsolationChecked();
    assertTrue(
        iso.path("details").path("sandbox_uids").asText().startsWith("a distinct uid per pod"),
        iso.toString());
    forkBombBesideAnotherPod();
    restoreDefaultApi();
  }

  private static void forkBombBesideAnotherPod() throws Exception {
    String full = "bomb-at-its-limit-" + System.nanoTime();
    String bomb =
        "import os, time\n"
            + "held = 0\n"
            + "marked = False\n"
            + "end = time.time() + 10\n"
            + "while time.time() < end:\n"
            + "    try:\n"
            + "        if os.fork() == 0:\n"
            + "            time.sleep(12)\n"
            + "            os._exit(0)\n"
            + "        held += 1\n"
            + "    except OSError:\n"
            + "        if not marked:\n"
            + "            "
            + markIn(full)
            + "            marked = True\n"
            + "        time.sleep(0.01)\n"
            + "print('held', held)\n";
    String other =
        "import os, time\n"
            + "ok = 0\n"
            + "for i in range(60):\n"
            + "    try:\n"
            + "        if os.fork() == 0:\n"
            + "            time.sleep(2)\n"
            + "            os._exit(0)\n"
            + "        ok += 1\n"
            + "    except OSError as e:\n"
            + "        print('fork failed:', e)\n"
            + "        break\n"
            + "print('forked', ok)\n";
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      var bombRun = runs.submit(() -> api.exec("py", bomb));
      // The bomb reaches its limit (RLIMIT_NPROC, 256) within a second and holds it: once its first
      // fork is refused, another pod (the refilled pool pod, or a Job) forks.
      await("the fork bomb at its limit", 60, quietly(() -> markedInSomePod(full)));
      JsonNode r = api.exec("py", other);
      assertEquals("forked 60\n", r.path("stdout").asText(), r.toString());
      JsonNode b = bombRun.get();
      assertTrue(b.path("stdout").asText().startsWith("held 2"), "the bomb held ~256: " + b);
    }
  }

  /**
   * Following demand (the default on Kubernetes): three runs at once of a language with a pool of
   * one make its pool bigger, within K8S_MAX_PODS; a language without a pool gets one once used.
   */
  @Test
  @Order(6)
  void poolsFollowDemand() throws Exception {
    Map<String, String> env = apiEnv(1, 0);
    env.put("POD_POOL_FOLLOW_DEMAND", "true");
    env.put("K8S_MAX_PODS", "6");
    restartApi(env);
    awaitReadyPyPod();
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      List<java.util.concurrent.Future<JsonNode>> three = new ArrayList<>();
      for (int i = 0; i < 3; i++) {
        three.add(runs.submit(() -> api.exec("py", "import time\ntime.sleep(2)\nprint('ok')")));
      }
      for (var f : three) {
        assertEquals("ok\n", f.get().path("stdout").asText());
      }
    }
    JsonNode py = poolStats().path("py");
    assertTrue(py.path("target").asInt() > 1, "the py pool grew: " + py);
    assertTrue(py.path("target").asInt() <= 6, "within K8S_MAX_PODS: " + py);
    assertTrue(py.path("demand").path("peak_in_use").asInt() >= 2, py.toString());
    await("more than one py pool pod", 90, quietly(() -> readyPool("py").size() > 1));
    // A language without a pool: its first run is a Job, after which it has a pool.
    assertEquals("0\n", api.exec("bash", "echo 0").path("stdout").asText());
    await("a bash pool", 90, quietly(() -> readyPool("bash").size() >= 1));
    await(
        "every pool pod within K8S_MAX_PODS",
        30,
        quietly(
            () ->
                sandboxPods("kubecoderun.io/role=pool").stream()
                        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
                        .count()
                    <= 6));
    restoreDefaultApi();
  }

  /**
   * K8S_POD_REUSE=session: the second run of a session runs in the pod of its first, reset in
   * between (nothing of the first run is left but what the API carries: its files when passed,
   * Python state), while another session never gets that pod.
   */
  @Test
  @Order(6)
  void withSessionReuseASessionsNextRunTakesItsOwnPodResetAndNoOtherSessionDoes() throws Exception {
    Map<String, String> env = apiEnv(1, 0);
    env.put("K8S_POD_REUSE", "session");
    restartApi(env);
    awaitReadyPyPod();
    assertEquals("false", envOf(readyPool("py").get(0), "RUNNER_SINGLE_USE"));
    String first =
        "import os\n"
            + "x = 41\n"
            + "open('/mnt/data/left.txt', 'w').write('x')\n"
            + "os.makedirs('/mnt/data/locked/in')\n"
            + "open('/mnt/data/locked/in/f', 'w').write('x')\n"
            + "os.chmod('/mnt/data/locked', 0)\n"
            + "open(os.path.expanduser('~/.Rprofile'), 'w').write('x')\n"
            + "open('/tmp/kcr/tmp/marker', 'w').write('x')\n"
            + "print(os.getpid() > 0)\n";
    JsonNode r1 = api.exec("py", first);
    assertEquals("True\n", r1.path("stdout").asText(), r1.toString());
    String session = r1.path("session_id").asText();
    int podsAfterFirst = sandboxPods("kubecoderun.io/language=py").size();
    String second =
        "import os\n"
            + "print(x + 1, sorted(os.listdir('/mnt/data')),"
            + " os.path.exists(os.path.expanduser('~/.Rprofile')),"
            + " os.path.exists('/tmp/kcr/tmp/marker'))\n";
    JsonNode r2 = api.exec(Map.of("lang", "py", "code", second, "session_id", session));
    assertEquals("42 [] False False\n", r2.path("stdout").asText(), r2.toString());
    JsonNode sessions = sessionStats();
    assertEquals(1, sessions.path("reused").asInt(), sessions.toString());
    assertEquals(0, sessions.path("reset_failures").asInt(), sessions.toString());
    // Another session: a pool pod of its own, not the kept one.
    JsonNode other = api.exec("py", "print('other')");
    assertEquals("other\n", other.path("stdout").asText());
    assertEquals(1, sessionStats().path("reused").asInt(), "another session's run reused nothing");
    assertTrue(podsAfterFirst >= 2, "the kept pod and the pool's");
    restoreDefaultApi();
  }

  private static JsonNode sessionStats() throws java.io.IOException, InterruptedException {
    return sandboxDetails().path("session_sandboxes");
  }

  private static JsonNode poolStats() throws java.io.IOException, InterruptedException {
    return sandboxDetails().path("pools");
  }

  /** The sandbox service's details in the API's /health/detailed. */
  private static JsonNode sandboxDetails() throws java.io.IOException, InterruptedException {
    return Json.tree(api.get("/health/detailed?use_cache=false").body().getBytes())
        .path("services")
        .path("sandbox")
        .path("details");
  }

  @Test
  @Order(7)
  void aRequestFindingThePoolEmptyRunsInAJob() throws Exception {
    Map<String, String> env = apiEnv(1, 0);
    env.put("POD_POOL_WAIT_SECONDS", "0"); // no waiting for the refill: an empty pool means a Job
    restartApi(env);
    awaitReadyPyPod();
    jobsSeen.clear();
    Thread watcher = Thread.ofVirtual().start(KubernetesBackendTest::recordJobs);
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      // Two runs at once: one takes the pool pod, the other finds the pool empty.
      var slow = runs.submit(() -> api.exec("py", "import time\ntime.sleep(3)\nprint('pooled')"));
      await("the first run holding the pool pod", 30, () -> apiPool("py", "in_use") == 1);
      var other = runs.submit(() -> api.exec("py", "print('second')"));
      String outputs = slow.get().path("stdout").asText() + other.get().path("stdout").asText();
      assertEquals("pooled\nsecond\n", outputs);
    } finally {
      watcher.interrupt();
    }
    assertTrue(
        jobsSeen.stream().anyMatch(j -> j.startsWith("kcr-job-py-")),
        "the run that found the pool empty ran in a Job: " + jobsSeen);
  }

  @Test
  @Order(8)
  void thePodCapBoundsThePoolsAndRunsStillFlow() throws Exception {
    Map<String, String> env = apiEnv(3, 0);
    env.put("K8S_MAX_PODS", "2");
    restartApi(env);
    await("two py pool pods ready in the API", 90, () -> apiPoolReady("py") == 2);
    // The third pool pod waits for a slot; it must never exist alongside the two. Watched after
    // each run until the pool is back at the cap: the used pod deleted, its replacement started
    // and ready, the time when a third would show.
    for (int i = 0; i < 3; i++) {
      assertEquals("ran\n", api.exec("py", "print('ran')").path("stdout").asText());
      await(
          "the pool back at the cap, never over it",
          60,
          quietly(
              () -> {
                List<V1Pod> live =
                    sandboxPods("kubecoderun.io/role=pool").stream()
                        .filter(p -> p.getMetadata().getDeletionTimestamp() == null)
                        .toList();
                assertTrue(
                    live.size() <= 2, "K8S_MAX_PODS=2 but live pool pods are " + names(live));
                return apiPoolReady("py") == 2;
              }));
    }
  }

  private static List<String> names(List<V1Pod> pods) {
    return pods.stream().map(p -> p.getMetadata().getName()).toList();
  }

  @Test
  @Order(9)
  void overTheJobCapARunWaitsABoundedTimeThen503() throws Exception {
    Map<String, String> env = apiEnv(0, 0);
    env.put("K8S_MAX_JOBS", "1");
    env.put("SANDBOX_START_TIMEOUT_SECONDS", "5"); // also the longest wait for a free Job slot
    restartApi(env);
    String sleepy =
        "#include <stdio.h>\n#include <unistd.h>\nint main(){sleep(12);puts(\"first\");return 0;}";
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      var first = runs.submit(() -> api.exec("c", sleepy));
      await(
          "the first run's Job",
          30,
          quietly(() -> !sandboxPods("kubecoderun.io/role=job").isEmpty()));
      var refused = api.execResponse("c", "int main(){return 0;}");
      assertEquals(503, refused.statusCode(), refused.body());
      JsonNode error = Json.tree(refused.body().getBytes(java.nio.charset.StandardCharsets.UTF_8));
      assertEquals("service_unavailable", error.path("error_type").asText(), refused.body());
      assertTrue(refused.headers().firstValue("Retry-After").isPresent());
      assertEquals("first\n", first.get().path("stdout").asText());
    }
    // With the slot free again, the next run goes through.
    assertEquals(
        "0\n",
        api.exec("c", "#include <stdio.h>\nint main(){printf(\"%d\\n\",0);return 0;}")
            .path("stdout")
            .asText());
    restoreDefaultApi();
  }

  @Test
  @Order(10)
  void aGracefulStopDeletesEveryPod() throws Exception {
    assertFalse(sandboxPods("").isEmpty());
    api.close();
    await("no sandbox pods after SIGTERM", 30, quietly(() -> sandboxPods("").isEmpty()));
  }

  /**
   * Sets the settings of the shortest run (MAX_EXECUTION_TIME, SANDBOX_TRANSFER_TIMEOUT_SECONDS and
   * PTC_CONTINUATION_TIMEOUT_SECONDS of 1 s) and returns what such a run may use of its pod
   * (SandboxUse), in seconds: its files, 1 s each way, a programmatic run's budget, (1 + 1) x 21 +
   * 1 + 5 s, and 60 s between the calls: 110 s.
   */
  private static int shortestRunUse(Map<String, String> env) {
    env.put("MAX_EXECUTION_TIME", "1");
    env.put("SANDBOX_TRANSFER_TIMEOUT_SECONDS", "1");
    env.put("PTC_CONTINUATION_TIMEOUT_SECONDS", "1");
    return 110;
  }

  @Test
  @Order(11)
  void aJobLeftByAKilledApiEndsAtItsDeadlineAndIsCollectedAfterItsTtl() throws Exception {
    Map<String, String> env = apiEnv(0, 0);
    // The shortest Job deadline these settings allow, the one an unset K8S_JOB_DEADLINE_SECONDS
    // takes (SandboxUse): the start, then what a run may use of its pod.
    env.put("SANDBOX_START_TIMEOUT_SECONDS", "20");
    int jobDeadline = 20 + shortestRunUse(env);
    env.put("K8S_JOB_TTL_SECONDS", "0");
    api = ApiProcess.start(env);
    try (var runs = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
      runs.submit(() -> api.execResponse("bash", "sleep 5; echo never"));
      await(
          "the run's Job",
          60,
          quietly(() -> !adminBatch.listNamespacedJob(sandboxNs).execute().getItems().isEmpty()));
      await("the run's pod", 60, quietly(() -> !sandboxPods("kubecoderun.io/role=job").isEmpty()));
      api.kill(); // nothing deletes the Job now but Kubernetes itself
    }
    assertEquals(
        jobDeadline,
        adminBatch
            .listNamespacedJob(sandboxNs)
            .execute()
            .getItems()
            .getFirst()
            .getSpec()
            .getActiveDeadlineSeconds());
    // The Job controller ends the Job at its deadline (its pod goes), the TTL controller deletes
    // it.
    await(
        "the Job and its pod gone",
        jobDeadline + 60,
        quietly(
            () ->
                adminBatch.listNamespacedJob(sandboxNs).execute().getItems().isEmpty()
                    && sandboxPods("").isEmpty()));
  }

  @Test
  @Order(12)
  void aKilledApiLeavesNothingBehindAfterItsRestart() throws Exception {
    api = ApiProcess.start(apiEnv(1, 1));
    awaitPoolsFull("the pools full");
    api.kill();
    // No wait for what does not happen: the API has exited (kill waits for it), so nothing of it
    // can delete a pod now, and a deletion it asked for before would show (a pod gone, or one with
    // a deletion timestamp).
    assertFalse(api.process.isAlive(), "the API killed");
    List<V1Pod> orphans = sandboxPods("kubecoderun.io/role=pool");
    assertEquals(2, orphans.size(), "the killed API's pods are still there");
    assertTrue(
        orphans.stream().allMatch(p -> p.getMetadata().getDeletionTimestamp() == null),
        "none of the killed API's pods is being deleted: " + names(orphans));
    api = ApiProcess.start(apiEnv(0, 0));
    await("the start-up sweep", 30, quietly(() -> sandboxPods("").isEmpty()));
    api.close();
  }

  /**
   * An API pod gone for good (killed, not restarted): another API pod deletes its sandboxes once
   * its owner Lease has expired (twice K8S_OWNER_LEASE_SECONDS, 5 s here), and the Lease too. Not a
   * sandbox with an owner reference: an API in the sandboxes' namespace owns its sandboxes itself
   * and keeps no Lease, and they are the garbage collector's.
   */
  @Test
  @Order(13)
  void anotherApiPodDeletesTheSandboxesOfOneWhoseLeaseExpired() throws Exception {
    api = ApiProcess.start(apiEnv(1, 0));
    await("a py pool pod", 90, quietly(() -> readyPool("py").size() == 1));
    V1Pod model = readyPool("py").get(0);
    api.kill();
    // The sandbox of an API that owns it by reference (here a ConfigMap stands for that API pod).
    var owner =
        admin
            .createNamespacedConfigMap(
                sandboxNs,
                new io.kubernetes.client.openapi.models.V1ConfigMap()
                    .metadata(new V1ObjectMeta().name("kcr-api-in-namespace")))
            .execute();
    Map<String, String> labels = new HashMap<>(model.getMetadata().getLabels());
    labels.put("kubecoderun.io/owner", "api-in-namespace");
    labels.put("kubecoderun.io/sandbox", "kcr-owned-by-reference");
    admin
        .createNamespacedPod(
            sandboxNs,
            new V1Pod()
                .metadata(
                    new V1ObjectMeta()
                        .name("kcr-owned-by-reference")
                        .labels(labels)
                        .ownerReferences(
                            List.of(
                                new io.kubernetes.client.openapi.models.V1OwnerReference()
                                    .apiVersion("v1")
                                    .kind("ConfigMap")
                                    .name(owner.getMetadata().getName())
                                    .uid(owner.getMetadata().getUid()))))
                .spec(model.getSpec().nodeName(null).overhead(null)))
        .execute();
    Map<String, String> env = apiEnv(0, 0);
    env.put("POD_NAME", "kcr-api-2"); // another API pod
    env.remove("POD_UID");
    api = ApiProcess.start(env);
    await(
        "the gone API pod's sandboxes and Lease deleted",
        60,
        quietly(
            () ->
                sandboxPods("kubecoderun.io/owner=" + OWNER).isEmpty()
                    && new io.kubernetes.client.openapi.apis.CoordinationV1Api(cluster.admin)
                        .listNamespacedLease(sandboxNs).execute().getItems().stream()
                            .noneMatch(
                                l -> l.getMetadata().getName().equals("kcr-owner-" + OWNER))));
    V1Pod kept = admin.readNamespacedPod("kcr-owned-by-reference", sandboxNs).execute();
    assertNull(kept.getMetadata().getDeletionTimestamp(), "the sandbox owned by reference is kept");
    admin.deleteNamespacedConfigMap(owner.getMetadata().getName(), sandboxNs).execute();
    admin.deleteNamespacedPod("kcr-owned-by-reference", sandboxNs).execute();
    api.close();
  }

  /**
   * K8S_POD_REUSE=session with K8S_MAX_JOBS=2: two sessions' C runs leave their Jobs kept for the
   * sessions' next runs, holding both slots; a third session's C run gets the slot of the least
   * recently used one, rather than waiting for it to idle out (a 503 after the start timeout).
   */
  @Test
  @Order(13)
  void withSessionReuseJobsKeptIdleDoNotKeepANewRunFromTheJobCap() throws Exception {
    Map<String, String> env = apiEnv(0, 0);
    env.put("K8S_POD_REUSE", "session");
    env.put("K8S_MAX_JOBS", "2");
    env.put("K8S_SESSION_POD_IDLE_SECONDS", "3600");
    restartApi(env);
    String c = "#include <stdio.h>\nint main(){printf(\"%d\\n\", 6*7);return 0;}";
    for (int i = 0; i < 2; i++) {
      assertEquals("42\n", api.exec("c", c).path("stdout").asText());
    }
    await("both Jobs kept", 30, quietly(() -> sessionStats().path("kept").asInt() == 2));

    JsonNode third = api.exec("c", c);
    assertEquals("42\n", third.path("stdout").asText(), third.toString());
    // Stopped, as the other tests from order 12 on leave it: each starts an API of its own.
    api.close();
  }

  /**
   * A pool pod is replaced once less of its deadline is left than a run may use, with no request
   * coming: here with the shortest run ({@link #shortestRunUse}), the pool pods' deadline is twice
   * what it uses, and the pool's pod changes before Kubernetes would kill it.
   */
  @Test
  @Order(13)
  void aPoolPodIsReplacedWhenTooOldForARunWithNoRequest() throws Exception {
    Map<String, String> env = apiEnv(1, 0);
    int runUse = shortestRunUse(env);
    restartApi(env);
    awaitReadyPyPod();
    V1Pod first = readyPool("py").get(0);
    long deadline = first.getSpec().getActiveDeadlineSeconds();
    assertEquals(2 * runUse, deadline);
    long age =
        java.time.Duration.between(
                first.getMetadata().getCreationTimestamp().toInstant(), java.time.Instant.now())
            .toSeconds();
    String name = first.getMetadata().getName();
    await(
        "the pool pod replaced ahead of its deadline, no request made",
        (int) (deadline - age - 10),
        quietly(
            () -> {
              List<V1Pod> pool = readyPool("py");
              return pool.size() == 1 && !pool.get(0).getMetadata().getName().equals(name);
            }));
    // Stopped, as the other tests from order 12 on leave it: each starts an API of its own (one
    // left running would keep the owner Lease alive for the test of a gone API's sandboxes).
    api.close();
  }

  /**
   * Sandboxes in the API pod's own namespace (sandbox.namespace.separate=false) have it as their
   * owner: when it is deleted, the garbage collector deletes them.
   */
  @Test
  @Order(14)
  void inTheApiPodsNamespaceTheOwnerPodsDeletionCollectsItsSandboxes() throws Exception {
    Map<String, String> env = apiEnv(1, 0);
    env.put("K8S_NAMESPACE", ns);
    env.put("KUBECONFIG", cluster.kubeconfig.toString()); // the chart's Role is the sandboxes' ns'
    api = ApiProcess.start(env);
    await(
        "a py pool pod in the API's namespace",
        90,
        quietly(
            () ->
                admin
                    .listNamespacedPod(ns)
                    .labelSelector(SELECTOR + ",kubecoderun.io/role=pool")
                    .execute()
                    .getItems()
                    .stream()
                    .anyMatch(
                        p ->
                            p.getMetadata().getOwnerReferences() != null
                                && p.getMetadata()
                                    .getOwnerReferences()
                                    .get(0)
                                    .getUid()
                                    .equals(ownerUid))));
    api.kill();
    admin.deleteNamespacedPod(OWNER, ns).execute();
    // The garbage collector of kube-controller-manager follows the ownerReference.
    await(
        "garbage collection of the sandbox pods",
        90,
        quietly(
            () ->
                admin
                    .listNamespacedPod(ns)
                    .labelSelector(SELECTOR)
                    .execute()
                    .getItems()
                    .isEmpty()));
  }
}
