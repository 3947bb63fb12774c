package dev.kubecoderun.chart;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.sun.net.httpserver.HttpServer;
import dev.kubecoderun.Application;
import dev.kubecoderun.auth.Authenticator;
import dev.kubecoderun.auth.JwtKeys;
import dev.kubecoderun.auth.RateWindow;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.language.Language;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyPairGenerator;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Renders charts/kubecoderun with Helm (helm-java) under several sets of values and checks the
 * manifests: RBAC exactly as docs/kubernetes.md lists it, the hardened API pod, the
 * NetworkPolicies, the API key generated once and kept through {@code lookup}, and values reaching
 * the ConfigMap.
 *
 * <p>{@code lookup} is answered by a fake Kubernetes API on loopback that knows one Secret, so the
 * test sees both a first install (no Secret: a new key) and an upgrade (the Secret's key is kept).
 */
@Tag("chart")
class ChartTest {
  static final String RELEASE = "rel";
  static final String FULLNAME = "rel-kubecoderun";
  static final String NS = "kcr";
  static final String SANDBOX_NS = "kcr-sandboxes";
  static final String UPGRADE_NS = "upgraded";
  static final String KEPT_KEY = "key-of-an-earlier-install-0123456789";
  static final String KEPT_TOKEN = "metrics-token-of-an-earlier-install-0123456789";
  static final String KEPT_SALT = "salt-of-an-earlier-install-0123456789";
  static final String MASTER = "master-key-of-the-chart-test-0123456789";
  static final Path CHART = Path.of("charts/kubecoderun");
  static final ObjectMapper YAML = new YAMLMapper();

  /** An Ed25519 public key as PEM, and another's x as a JWK has it (both for the "jwt" job). */
  static final String PEM;

  static final String JWK_X;

  static {
    try {
      KeyPairGenerator gen = KeyPairGenerator.getInstance("Ed25519");
      PEM =
          "-----BEGIN PUBLIC KEY-----\n"
              + Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII))
                  .encodeToString(gen.generateKeyPair().getPublic().getEncoded())
              + "\n-----END PUBLIC KEY-----\n";
      byte[] spki = gen.generateKeyPair().getPublic().getEncoded();
      // X.509 SubjectPublicKeyInfo of Ed25519: a 12-byte header, then the 32-byte key.
      JWK_X =
          Base64.getUrlEncoder()
              .withoutPadding()
              .encodeToString(Arrays.copyOfRange(spki, spki.length - 32, spki.length));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Values files rendered once for all tests: id -> (namespace, values). */
  static final Map<String, String[]> JOBS = new LinkedHashMap<>();

  static {
    JOBS.put("defaults", new String[] {NS, "{}"});
    JOBS.put("defaults-again", new String[] {NS, "{}"});
    JOBS.put("upgrade", new String[] {UPGRADE_NS, "{}"});
    JOBS.put(
        "upgrade-secrets",
        new String[] {
          UPGRADE_NS,
          "masterKey: {value: "
              + MASTER
              + "}\nredis: {enabled: true, url: 'redis://r:6379/0', password: pw}"
        });
    JOBS.put(
        "upgrade-secrets-changed",
        new String[] {
          UPGRADE_NS,
          "masterKey: {value: "
              + MASTER
              + "}\nredis: {enabled: true, url: 'redis://r:6379/0', password: pw2}"
        });
    JOBS.put(
        "production",
        new String[] {
          NS,
          """
          replicaCount: 2
          apiKey: {existingSecret: my-keys, existingSecretKey: KEY}
          config: {MAX_EXECUTION_TIME: "45", POD_POOL_PY: "9"}
          redis: {enabled: true, url: "redis://redis:6379/2", password: redis-pw, keyPrefix: "kcr:"}
          minio: {enabled: true, endpoint: "minio:9000", secure: false, bucket: files, accessKey: ak, secretKey: sk}
          sandbox:
            podPool: {py: 7, go: 1}
            image: {registry: "registry.example/acme", tag: "2.0", pullPolicy: Always, pullSecrets: [regcred, other]}
            langImage: {r: "registry.example/custom-r:5"}
            resources:
              requests: {cpu: 200m, memory: 300Mi}
              limits: {cpu: "2", memory: 1Gi, ephemeral-storage: 3Gi}
            langLimits: {java: {memory: 2Gi}, rs: {cpu: "3"}}
            maxPods: 12
            maxJobs: 4
            runtimeClassName: gvisor
            podNodeSelector: {pool: sandbox}
            podTolerations: [{key: sandbox, operator: Exists, effect: NoSchedule}]
            apiAntiAffinity: required
            scratchMedium: memory
          networkPolicy:
            apiNamespace: api-ns
            sandboxEgress: [{to: [{ipBlock: {cidr: 10.1.0.0/16}}], ports: [{protocol: TCP, port: 443}]}]
          ingress: {enabled: true, className: nginx}
          """
        });
    JOBS.put("iam", new String[] {NS, "minio: {enabled: true, endpoint: s3.local, useIAM: true}"});
    JOBS.put("no-netpol", new String[] {NS, "networkPolicy: {enabled: false}"});
    JOBS.put("same-namespace", new String[] {NS, "sandbox: {namespace: {separate: false}}"});
    JOBS.put(
        "own-namespace", new String[] {NS, "sandbox: {namespace: {name: sbx, create: false}}"});
    JOBS.put("bad-user-namespaces", new String[] {NS, "sandbox: {userNamespaces: yes}"});
    JOBS.put("bad-replicas", new String[] {NS, "replicaCount: 3"});
    JOBS.put("bad-language", new String[] {NS, "sandbox: {podPool: {python: 2}}"});
    JOBS.put("bad-pool-size", new String[] {NS, "sandbox: {podPool: {py: 101}}"});
    JOBS.put("pools-over-max", new String[] {NS, "sandbox: {podPool: {py: 8}, maxPods: 9}"});
    JOBS.put("bad-lang-limits", new String[] {NS, "sandbox: {langLimits: {python: {cpu: 1}}}"});
    JOBS.put("short-key", new String[] {NS, "apiKey: {value: short}"});
    // Credentials through config would land in the ConfigMap, in clear for the `view` role.
    JOBS.put("config-master-key", new String[] {NS, "config: {MASTER_API_KEY: " + MASTER + "}"});
    JOBS.put("config-redis-password", new String[] {NS, "config: {REDIS_PASSWORD: pw}"});
    JOBS.put("config-aws-secret", new String[] {NS, "config: {AWS_SECRET_ACCESS_KEY: s3cr3t}"});
    JOBS.put(
        "redis-url-password",
        new String[] {NS, "redis: {enabled: true, url: 'redis://:pw@r:6379/0'}"});
    JOBS.put(
        "config-redis-url-password",
        new String[] {NS, "config: {REDIS_URL: 'rediss://default:pw@r:6379'}"});
    JOBS.put(
        "extra-env-plain-credential",
        new String[] {NS, "extraEnv: [{name: MASTER_API_KEY, value: " + MASTER + "}]"});
    // The way a credential goes through extraEnv: from a Secret.
    JOBS.put(
        "extra-env-credential-from-secret",
        new String[] {
          NS, "extraEnv: [{name: API_KEYS, valueFrom: {secretKeyRef: {name: keys, key: API_KEYS}}}]"
        });
    // An operator's ConfigMap is as readable as the chart's.
    JOBS.put(
        "extra-env-credential-from-config-map",
        new String[] {
          NS,
          "extraEnv: [{name: API_KEYS, valueFrom: {configMapKeyRef: {name: keys, key: API_KEYS}}}]"
        });
    JOBS.put(
        "extra-env-redis-url-password",
        new String[] {NS, "extraEnv: [{name: REDIS_URL, value: 'redis://:pw@r:6379/0'}]"});
    // No colon: the API takes the whole userinfo for the password.
    JOBS.put(
        "redis-url-bare-password",
        new String[] {NS, "redis: {enabled: true, url: 'redis://s3cretpw@r:6379/0'}"});
    JOBS.put("bad-minio", new String[] {NS, "minio: {enabled: true, endpoint: 'minio:9000'}"});
    JOBS.put(
        "operations",
        new String[] {
          NS,
          """
          masterKey: {value: "master-key-of-the-chart-test-0123456789"}
          adminDashboard: {enabled: false}
          apiDocs: {enabled: false}
          metrics:
            serviceMonitor: {enabled: true, interval: 15s, labels: {release: prom}}
            podMonitor: {enabled: true}
            grafanaDashboard: {enabled: true}
          """
        });
    JOBS.put(
        "master-secret",
        new String[] {
          NS,
          "masterKey: {existingSecret: ops-keys, existingSecretKey: MK}\n"
              + "metrics: {serviceMonitor: {enabled: true}}"
        });
    JOBS.put(
        "metrics-token-secret",
        new String[] {
          NS,
          "metrics: {token: {existingSecret: prom-scrape, existingSecretKey: TOKEN},"
              + " podMonitor: {enabled: true}}"
        });
    JOBS.put(
        "metrics-public",
        new String[] {NS, "metrics: {public: true, podMonitor: {enabled: true}}"});
    // Wrong types and unknown values: refused by values.schema.json before anything renders.
    JOBS.put("type-replicas", new String[] {NS, "replicaCount: two"});
    JOBS.put("type-pool", new String[] {NS, "sandbox: {podPool: {py: \"3\"}}"});
    JOBS.put("type-metrics", new String[] {NS, "metrics: {public: \"yes\"}"});
    JOBS.put("type-monitor", new String[] {NS, "metrics: {serviceMonitor: {enabled: 1}}"});
    JOBS.put("type-user-ns", new String[] {NS, "sandbox: {userNamespaces: maybe}"});
    JOBS.put("type-anti-affinity", new String[] {NS, "sandbox: {apiAntiAffinity: always}"});
    // More pods than the API accepts (K8S_MAX_PODS, 1-10000): refused here, not by a crash loop.
    JOBS.put("type-max-pods", new String[] {NS, "sandbox: {maxPods: 10001}"});
    JOBS.put("unknown-value", new String[] {NS, "replicaCont: 2"});
    JOBS.put("unknown-nested", new String[] {NS, "redis: {enable: true}"});
    JOBS.put("short-master", new String[] {NS, "masterKey: {value: short}"});
    JOBS.put(
        "non-ascii-master",
        new String[] {
          NS, "masterKey: {value: \"caf\u00e9-master-key-of-more-than-32-characters\"}"
        });
    JOBS.put("monitor-no-master", new String[] {NS, "metrics: {serviceMonitor: {enabled: true}}"});
    JOBS.put("short-metrics-token", new String[] {NS, "metrics: {token: {value: short-token}}"});
    JOBS.put(
        "metrics-token-is-master",
        new String[] {
          NS, "masterKey: {value: " + MASTER + "}\nmetrics: {token: {value: " + MASTER + "}}"
        });
    // LibreChat's JWTs: keys inline (a PEM and a JWKS given as YAML), bounds and limits.
    JOBS.put(
        "jwt",
        new String[] {
          NS,
          """
          auth:
            provider: librechat-jwt
            rateLimitEnabled: false
            jwt:
              issuer: lc-prod
              audience: code
              allowedAlgs: [EdDSA]
              kid: lc-codeapi-2026-05
              publicKey: |
          %s
              jwks: {keys: [{kty: OKP, crv: Ed25519, x: "%s", kid: rotated}]}
              singleTenantId: acme
              rateLimits: {per_minute: 60, hourly: 1000}
          server:
            maxConnections: 2000
            maxConcurrentRequests: 100
            idleConnectionTimeoutSeconds: 30
            trustedProxies: [10.244.0.0/16, "fd00::/8"]
          """
              .formatted(PEM.indent(8).stripTrailing(), JWK_X)
        });
    // Key files from the operator's own Secret and ConfigMap, mounted read-only.
    JOBS.put(
        "jwt-files",
        new String[] {
          NS,
          """
          auth:
            provider: both
            jwt:
              jwksFrom: {secret: lc-jwks, key: codeapi.json}
              publicKeysFrom: {configMap: lc-keys}
              keyCacheTtlSeconds: 10
              tenantIsolationStrict: true
          """
        });
    JOBS.put(
        "jwt-jwks-configmap",
        new String[] {NS, "auth: {jwt: {jwks: '{\"keys\":[]}', jwksFrom: {configMap: lc-jwks}}}"});
    // A key given through config: (the chart's own check must not refuse it).
    JOBS.put(
        "jwt-key-in-config",
        new String[] {
          NS,
          "auth: {provider: librechat-jwt}\nconfig: {CODEAPI_JWT_PUBLIC_KEY_BASE64: \""
              + b64(PEM)
              + "\"}"
        });
    JOBS.put("jwt-no-key", new String[] {NS, "auth: {provider: librechat-jwt}"});
    JOBS.put("both-no-key", new String[] {NS, "auth: {provider: both}"});
    JOBS.put(
        "jwks-two-sources",
        new String[] {NS, "auth: {jwt: {jwksFrom: {configMap: a, secret: b}}}"});
    JOBS.put(
        "jwt-private-key",
        new String[] {
          NS,
          "auth: {jwt: {publicKey: \"-----BEGIN PRIVATE KEY-----\\nMC4CAQAwBQYDK2VwBCIEIA==\\n-----END PRIVATE KEY-----\"}}"
        });
    JOBS.put("jwt-not-pem", new String[] {NS, "auth: {jwt: {publicKey: c29tZSBiYXNlNjQ=}}"});
    JOBS.put("type-alg", new String[] {NS, "auth: {jwt: {allowedAlgs: [HS256]}}"});
    JOBS.put("type-provider", new String[] {NS, "auth: {provider: none}"});
    JOBS.put("type-rate-window", new String[] {NS, "auth: {jwt: {rateLimits: {per_week: 5}}}"});
    JOBS.put("type-connections", new String[] {NS, "server: {maxConnections: 4}"});
    JOBS.put(
        "type-trusted-proxies", new String[] {NS, "server: {trustedProxies: [ingress-nginx]}"});
  }

  static HttpServer fakeApi;
  static final List<String> apiRequests = new CopyOnWriteArrayList<>();
  static final Map<String, List<JsonNode>> rendered = new TreeMap<>();
  static final Map<String, String> errors = new TreeMap<>();
  static String lint;

  @BeforeAll
  static void render(@TempDir Path work) throws Exception {
    fakeApi = startFakeApi();
    Path kubeconfig = work.resolve("kubeconfig");
    Files.writeString(
        kubeconfig,
        """
        apiVersion: v1
        kind: Config
        clusters: [{name: fake, cluster: {server: "http://127.0.0.1:%d"}}]
        users: [{name: fake, user: {}}]
        contexts: [{name: fake, context: {cluster: fake, user: fake}}]
        current-context: fake
        """
            .formatted(fakeApi.getAddress().getPort()));
    StringBuilder jobs = new StringBuilder();
    for (var job : JOBS.entrySet()) {
      jobs.append(job.getKey()).append(' ').append(job.getValue()[0]).append('\n');
      Files.writeString(work.resolve(job.getKey() + ".yaml"), job.getValue()[1]);
    }
    Files.writeString(work.resolve("jobs.txt"), jobs);

    ProcessBuilder pb =
        new ProcessBuilder(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED",
                "-cp",
                System.getProperty("java.class.path"),
                HelmRender.class.getName(),
                CHART.toAbsolutePath().toString(),
                work.toString())
            .redirectErrorStream(true)
            .redirectOutput(work.resolve("render.log").toFile());
    // Only the fake API, and Helm's own files in the work dir, never the user's.
    Map<String, String> env = pb.environment();
    env.keySet().removeIf(k -> k.startsWith("KUBERNETES_") || k.startsWith("HELM_"));
    env.put("KUBECONFIG", kubeconfig.toString());
    env.put("HOME", work.toString());
    env.put("XDG_CACHE_HOME", work.resolve("cache").toString());
    env.put("XDG_CONFIG_HOME", work.resolve("config").toString());
    env.put("XDG_DATA_HOME", work.resolve("data").toString());
    Process p = pb.start();
    if (!p.waitFor(180, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      fail("rendering took over 180 s: " + Files.readString(work.resolve("render.log")));
    }
    assertEquals(
        0, p.exitValue(), () -> "renderer failed: " + readQuietly(work.resolve("render.log")));

    for (String id : JOBS.keySet()) {
      Path out = work.resolve(id + ".out");
      if (Files.exists(out)) {
        List<JsonNode> docs = new ArrayList<>();
        try (MappingIterator<JsonNode> it =
            YAML.readerFor(JsonNode.class).readValues(Files.readString(out))) {
          while (it.hasNext()) {
            JsonNode doc = it.next();
            if (doc != null && !doc.isNull() && !doc.isEmpty()) {
              docs.add(doc);
            }
          }
        }
        rendered.put(id, docs);
      } else {
        errors.put(id, Files.readString(work.resolve(id + ".err")));
      }
    }
    lint = Files.readString(work.resolve("lint.out"));
  }

  @AfterAll
  static void stopFakeApi() {
    if (fakeApi != null) {
      fakeApi.stop(0);
    }
  }

  /**
   * Just enough of the Kubernetes API for Helm's {@code lookup "v1" "Secret"}: discovery of v1, and
   * one Secret, the release's own in {@link #UPGRADE_NS}, as an earlier install left it.
   */
  static HttpServer startFakeApi() throws IOException {
    HttpServer server =
        HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
    server.createContext(
        "/",
        ex -> {
          String path = ex.getRequestURI().getPath();
          apiRequests.add(ex.getRequestMethod() + " " + path);
          int status = 200;
          String body;
          if (path.equals("/api/v1")) {
            body =
                """
                {"kind":"APIResourceList","groupVersion":"v1","resources":[{"name":"secrets",
                "singularName":"secret","namespaced":true,"kind":"Secret","verbs":["get"]}]}""";
          } else if (path.equals("/api/v1/namespaces/" + UPGRADE_NS + "/secrets/" + FULLNAME)) {
            body =
                """
                {"apiVersion":"v1","kind":"Secret","metadata":{"name":"%s","namespace":"%s"},
                "type":"Opaque","data":{"API_KEY":"%s","METRICS_TOKEN":"%s","CHECKSUM_SALT":"%s"}}"""
                    .formatted(
                        FULLNAME, UPGRADE_NS, b64(KEPT_KEY), b64(KEPT_TOKEN), b64(KEPT_SALT));
          } else {
            status = 404;
            body =
                """
                {"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}""";
          }
          byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
          ex.getResponseHeaders().add("Content-Type", "application/json");
          ex.sendResponseHeaders(status, bytes.length);
          ex.getResponseBody().write(bytes);
          ex.close();
        });
    server.start();
    return server;
  }

  // ---------------------------------------------------------------------------------------------

  @Test
  void rbacIsExactlyWhatTheDocsList() throws IOException {
    // docs/kubernetes.md, section "RBAC": | core or group | `resource` | `verb`, `verb` | why |
    Set<String> documented = new TreeSet<>();
    Matcher row =
        Pattern.compile("(?m)^\\| ([a-z0-9.]+) \\| `([a-z/]+)` \\| ((?:`[a-z]+`(?:, )?)+) \\|")
            .matcher(Files.readString(Path.of("docs/kubernetes.md")));
    while (row.find()) {
      String group = row.group(1).equals("core") ? "" : row.group(1);
      for (String verb : row.group(3).replace("`", "").split(", ")) {
        documented.add(group + "/" + row.group(2) + ":" + verb);
      }
    }
    Set<String> expected =
        Set.of(
            "/pods:create",
            "/pods:delete",
            "/pods:list",
            "/pods:watch",
            "batch/jobs:create",
            "batch/jobs:delete",
            "batch/jobs:list",
            "coordination.k8s.io/leases:create",
            "coordination.k8s.io/leases:update",
            "coordination.k8s.io/leases:delete",
            "coordination.k8s.io/leases:list");
    assertEquals(new TreeSet<>(expected), documented, "docs/kubernetes.md RBAC table");

    for (String id : List.of("defaults", "production")) {
      JsonNode role = one(id, "Role", FULLNAME);
      Set<String> granted = new TreeSet<>();
      for (JsonNode rule : role.path("rules")) {
        for (JsonNode group : rule.path("apiGroups")) {
          for (JsonNode resource : rule.path("resources")) {
            for (JsonNode verb : rule.path("verbs")) {
              granted.add(group.asText() + "/" + resource.asText() + ":" + verb.asText());
            }
          }
        }
        assertTrue(rule.path("resourceNames").isMissingNode(), "no resourceNames: " + rule);
      }
      assertEquals(documented, granted, id + ": Role rules");
      // In the sandboxes' namespace only, where the API's ServiceAccount (in the release
      // namespace) gets it.
      assertEquals(SANDBOX_NS, role.at("/metadata/namespace").asText());

      JsonNode binding = one(id, "RoleBinding", FULLNAME);
      assertEquals(SANDBOX_NS, binding.at("/metadata/namespace").asText());
      assertEquals("Role", binding.at("/roleRef/kind").asText());
      assertEquals(FULLNAME, binding.at("/roleRef/name").asText());
      assertEquals(1, binding.path("subjects").size());
      assertEquals("ServiceAccount", binding.at("/subjects/0/kind").asText());
      assertEquals(FULLNAME, binding.at("/subjects/0/name").asText());
      assertEquals(NS, binding.at("/subjects/0/namespace").asText());
      assertEquals(
          FULLNAME,
          one(id, "Deployment", FULLNAME).at("/spec/template/spec/serviceAccountName").asText());
      // Nothing cluster-wide, ever.
      assertEquals(
          List.of(),
          rendered.get(id).stream()
              .map(d -> d.path("kind").asText())
              .filter(k -> k.startsWith("Cluster"))
              .toList());
    }
  }

  /**
   * Sandboxes run in a namespace of their own, held to Pod Security "restricted", where the Role
   * and the sandbox NetworkPolicy are; or, with sandbox.namespace.separate=false, in the release
   * namespace; or in a namespace made by someone else (create=false).
   */
  @Test
  void sandboxesHaveANamespaceOfTheirOwnHeldToPodSecurityRestricted() {
    JsonNode ns = one("defaults", "Namespace", SANDBOX_NS);
    for (String mode : List.of("enforce", "audit", "warn")) {
      assertEquals(
          "restricted", ns.at("/metadata/labels/pod-security.kubernetes.io~1" + mode).asText());
      assertEquals(
          "latest",
          ns.at("/metadata/labels/pod-security.kubernetes.io~1" + mode + "-version").asText());
    }
    assertEquals(SANDBOX_NS, configMap("defaults").get("K8S_NAMESPACE"));
    assertEquals(
        SANDBOX_NS,
        one("defaults", "NetworkPolicy", FULLNAME + "-sandbox").at("/metadata/namespace").asText());
    // The API's own NetworkPolicy stays with the API.
    assertTrue(
        one("defaults", "NetworkPolicy", FULLNAME + "-api")
            .at("/metadata/namespace")
            .isMissingNode());

    assertEquals(NS, configMap("same-namespace").get("K8S_NAMESPACE"));
    assertEquals(NS, one("same-namespace", "Role", FULLNAME).at("/metadata/namespace").asText());
    assertTrue(
        rendered.get("same-namespace").stream()
            .noneMatch(d -> d.path("kind").asText().equals("Namespace")));

    assertEquals("sbx", configMap("own-namespace").get("K8S_NAMESPACE"));
    assertEquals("sbx", one("own-namespace", "Role", FULLNAME).at("/metadata/namespace").asText());
    assertTrue(
        rendered.get("own-namespace").stream()
            .noneMatch(d -> d.path("kind").asText().equals("Namespace")));
  }

  /** The isolation settings and the pod's address reach the API (the start-up check uses them). */
  @Test
  void isolationSettingsReachTheApi() throws IOException {
    Map<String, String> cm = configMap("defaults");
    assertEquals("auto", cm.get("K8S_USER_NAMESPACES"));
    assertEquals("1000000000-1999999999", cm.get("K8S_SANDBOX_UIDS"));
    assertEquals("1.1.1.1:443,169.254.169.254:80", cm.get("K8S_EGRESS_CHECK_ADDRESSES"));
    assertEquals("false", cm.get("K8S_ALLOW_UNENFORCED_NETWORK_POLICY"));
    JsonNode api = one("defaults", "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
    assertEquals("status.podIP", env(api, "POD_IP").at("/valueFrom/fieldRef/fieldPath").asText());
    // Sandbox pods keep off the API pods' nodes: the API learns its pods' labels and its node.
    assertEquals("preferred", cm.get("K8S_SANDBOX_API_ANTI_AFFINITY"));
    assertEquals("required", configMap("production").get("K8S_SANDBOX_API_ANTI_AFFINITY"));
    assertEquals("disk", cm.get("K8S_SCRATCH_MEDIUM"));
    assertEquals("memory", configMap("production").get("K8S_SCRATCH_MEDIUM"));
    JsonNode deployment = one("defaults", "Deployment", FULLNAME);
    assertEquals(
        deployment.at("/spec/selector/matchLabels"),
        Json.tree(cm.get("K8S_API_POD_LABELS").getBytes(StandardCharsets.UTF_8)),
        "the labels every API pod of the release has");
    assertEquals(
        "api",
        deployment.at("/spec/template/metadata/labels/app.kubernetes.io~1component").asText());
    assertEquals(
        "spec.nodeName", env(api, "NODE_NAME").at("/valueFrom/fieldRef/fieldPath").asText());
    assertTrue(
        errors.get("bad-user-namespaces").contains("'/sandbox/userNamespaces'"), errors::toString);
  }

  @Test
  void apiPodIsHardened() {
    JsonNode pod = one("defaults", "Deployment", FULLNAME).at("/spec/template/spec");
    assertEquals(65532, pod.at("/securityContext/runAsUser").asInt());
    assertEquals(65532, pod.at("/securityContext/runAsGroup").asInt());
    assertTrue(pod.at("/securityContext/runAsNonRoot").asBoolean());
    assertEquals("RuntimeDefault", pod.at("/securityContext/seccompProfile/type").asText());
    assertFalse(pod.path("enableServiceLinks").asBoolean(true));

    JsonNode api = pod.at("/containers/0");
    assertEquals(1, pod.path("containers").size());
    assertTrue(api.at("/securityContext/readOnlyRootFilesystem").asBoolean());
    assertFalse(api.at("/securityContext/allowPrivilegeEscalation").asBoolean(true));
    assertEquals("[\"ALL\"]", api.at("/securityContext/capabilities/drop").toString());
    assertEquals("kubecoderun/api:" + Application.VERSION, api.path("image").asText());
    assertEquals(8000, api.at("/ports/0/containerPort").asInt());
    assertEquals("http", api.at("/ports/0/name").asText());
    assertEquals("/health", api.at("/livenessProbe/httpGet/path").asText());
    assertEquals("http", api.at("/livenessProbe/httpGet/port").asText());
    assertEquals("/ready", api.at("/readinessProbe/httpGet/path").asText());
    assertEquals("http", api.at("/readinessProbe/httpGet/port").asText());
    assertEquals("2Gi", api.at("/resources/limits/memory").asText());
    assertFalse(api.at("/resources/requests/cpu").isMissingNode());

    // The writable places of a read-only root: /tmp and DATA_DIR, both volumes.
    Map<String, String> mounts = new TreeMap<>();
    api.path("volumeMounts")
        .forEach(m -> mounts.put(m.path("mountPath").asText(), m.path("name").asText()));
    assertEquals(Map.of("/tmp", "tmp", "/data", "data"), mounts);
    Map<String, JsonNode> volumes = new TreeMap<>();
    pod.path("volumes").forEach(v -> volumes.put(v.path("name").asText(), v));
    assertEquals("256Mi", volumes.get("tmp").at("/emptyDir/sizeLimit").asText());
    assertEquals("/data", configMap("defaults").get("DATA_DIR"));

    // The pod's own name and uid reach the API, for the ownerReferences of its sandboxes.
    assertEquals("metadata.uid", env(api, "POD_UID").at("/valueFrom/fieldRef/fieldPath").asText());
    assertEquals(
        "metadata.name", env(api, "POD_NAME").at("/valueFrom/fieldRef/fieldPath").asText());
    assertEquals(
        "metadata.namespace",
        env(api, "POD_NAMESPACE").at("/valueFrom/fieldRef/fieldPath").asText());
    assertEquals(FULLNAME, api.at("/envFrom/0/configMapRef/name").asText());
  }

  /**
   * A stopping pod leaves the Service's endpoints while Kubernetes signals it: a preStop sleep lets
   * them go before the API refuses runs, and the grace period still covers the sleep and the
   * executions' own grace (SHUTDOWN_GRACE_SECONDS). The API image has coreutils' sleep (Debian).
   */
  @Test
  void theApiPodWaitsForItsEndpointsToGoBeforeItStops() {
    JsonNode pod = one("defaults", "Deployment", FULLNAME).at("/spec/template/spec");
    JsonNode api = pod.at("/containers/0");
    assertEquals(
        "[\"sleep\",\"5\"]", api.at("/lifecycle/preStop/exec/command").toString(), api.toString());
    int grace = Integer.parseInt(configMap("defaults").get("SHUTDOWN_GRACE_SECONDS"));
    assertTrue(
        5 + grace < pod.path("terminationGracePeriodSeconds").asInt(),
        "terminationGracePeriodSeconds covers the preStop sleep and SHUTDOWN_GRACE_SECONDS");
  }

  @Test
  void networkPoliciesLetOnlyTheApiReachTheRunnerAndSandboxesReachNothing() throws IOException {
    JsonNode deployment = one("defaults", "Deployment", FULLNAME);
    JsonNode apiLabels = deployment.at("/spec/selector/matchLabels");
    JsonNode apiPodLabels = deployment.at("/spec/template/metadata/labels");

    JsonNode sandbox = one("defaults", "NetworkPolicy", FULLNAME + "-sandbox").path("spec");
    // Selects the label the API puts on every sandbox pod (PodSpecs), which its own pods lack.
    assertEquals(
        "{\"app.kubernetes.io/managed-by\":\"kubecoderun\"}",
        sandbox.at("/podSelector/matchLabels").toString());
    assertNotEquals("kubecoderun", apiPodLabels.path("app.kubernetes.io/managed-by").asText());
    assertEquals("[\"Ingress\",\"Egress\"]", sandbox.path("policyTypes").toString());
    assertTrue(
        sandbox.path("egress").isArray() && sandbox.path("egress").isEmpty(), "no egress at all");
    assertEquals(1, sandbox.path("ingress").size());
    JsonNode rule = sandbox.at("/ingress/0");
    assertEquals(1, rule.path("from").size(), "one peer, with both selectors (AND)");
    JsonNode peer = rule.at("/from/0");
    assertEquals(
        NS, peer.at("/namespaceSelector/matchLabels/kubernetes.io~1metadata.name").asText());
    assertEquals(apiLabels, peer.at("/podSelector/matchLabels"));
    apiLabels
        .properties()
        .forEach(
            l -> assertEquals(l.getValue(), apiPodLabels.path(l.getKey()), "API pods carry " + l));
    assertEquals("[{\"protocol\":\"TCP\",\"port\":8080}]", rule.path("ports").toString());

    JsonNode api = one("defaults", "NetworkPolicy", FULLNAME + "-api").path("spec");
    assertEquals(apiLabels, api.at("/podSelector/matchLabels"));
    assertEquals("[\"Ingress\"]", api.path("policyTypes").toString());
    assertEquals("[{\"protocol\":\"TCP\",\"port\":8000}]", api.at("/ingress/0/ports").toString());
    assertTrue(api.at("/ingress/0/from").isMissingNode(), "from anywhere by default");

    // The API in another namespace; egress opened on purpose.
    JsonNode prod = one("production", "NetworkPolicy", FULLNAME + "-sandbox").path("spec");
    assertEquals(
        "api-ns",
        prod.at("/ingress/0/from/0/namespaceSelector/matchLabels/kubernetes.io~1metadata.name")
            .asText());
    assertEquals("10.1.0.0/16", prod.at("/egress/0/to/0/ipBlock/cidr").asText());

    // In the sandboxes' own namespace, a pod without the sandbox label gets no traffic either:
    // a default deny for the whole namespace (policies add up: sandboxes keep what theirs allows).
    JsonNode deny = one("defaults", "NetworkPolicy", FULLNAME + "-sandbox-namespace-deny");
    assertEquals(SANDBOX_NS, deny.at("/metadata/namespace").asText());
    assertEquals("{}", deny.at("/spec/podSelector").toString(), "every pod of the namespace");
    assertEquals("[\"Ingress\",\"Egress\"]", deny.at("/spec/policyTypes").toString());
    assertTrue(
        deny.at("/spec/ingress").isMissingNode() && deny.at("/spec/egress").isMissingNode(),
        "nothing allowed");
    assertEquals(
        "sbx",
        one("own-namespace", "NetworkPolicy", FULLNAME + "-sandbox-namespace-deny")
            .at("/metadata/namespace")
            .asText());
    // Sandboxes in the release namespace: no deny for the API's own pods there.
    assertTrue(
        rendered.get("same-namespace").stream()
            .noneMatch(
                d -> d.at("/metadata/name").asText().equals(FULLNAME + "-sandbox-namespace-deny")));

    assertTrue(
        rendered.get("no-netpol").stream()
            .noneMatch(d -> d.path("kind").asText().equals("NetworkPolicy")));
  }

  @Test
  void apiKeyIsGeneratedOnceAndKeptThroughLookup() {
    String first = secret("defaults").get("API_KEY");
    String second = secret("defaults-again").get("API_KEY");
    assertTrue(first.matches("[A-Za-z0-9]{40}"), first);
    assertNotEquals(first, second, "a new install gets a new random key");
    // Both renders asked the cluster for the release's Secret: that is the `lookup`.
    assertTrue(
        apiRequests.contains("GET /api/v1/namespaces/" + NS + "/secrets/" + FULLNAME),
        apiRequests::toString);
    // An upgrade finds the Secret of the earlier install and keeps its key.
    assertEquals(KEPT_KEY, secret("upgrade").get("API_KEY"));
    JsonNode api = one("defaults", "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
    assertEquals(FULLNAME, env(api, "API_KEY").at("/valueFrom/secretKeyRef/name").asText());
    assertEquals("API_KEY", env(api, "API_KEY").at("/valueFrom/secretKeyRef/key").asText());

    // existingSecret: the chart generates no key, the API reads the given Secret.
    assertFalse(secret("production").containsKey("API_KEY"));
    JsonNode prod =
        one("production", "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
    assertEquals("my-keys", env(prod, "API_KEY").at("/valueFrom/secretKeyRef/name").asText());
    assertEquals("KEY", env(prod, "API_KEY").at("/valueFrom/secretKeyRef/key").asText());
  }

  @Test
  void valuesReachTheConfigMap() {
    Map<String, String> cm = configMap("production");
    assertEquals("kubernetes", cm.get("SANDBOX_BACKEND"));
    assertEquals(SANDBOX_NS, cm.get("K8S_NAMESPACE"));
    assertEquals("9", cm.get("POD_POOL_PY"), "config wins over the computed value");
    assertEquals("1", cm.get("POD_POOL_GO"));
    assertEquals("2", configMap("defaults").get("POD_POOL_JS"));
    assertEquals("2", cm.get("POD_POOL_JS"), "Helm merges podPool with the defaults");
    assertEquals("0", cm.get("POD_POOL_TS"));
    assertEquals("45", cm.get("MAX_EXECUTION_TIME"));
    assertEquals("registry.example/acme", cm.get("K8S_IMAGE_REGISTRY"));
    assertEquals("2.0", cm.get("K8S_IMAGE_TAG"));
    assertEquals("registry.example/custom-r:5", cm.get("LANG_IMAGE_R"));
    assertEquals("2Gi", cm.get("LANG_MEMORY_LIMIT_JAVA"));
    assertEquals("3", cm.get("LANG_CPU_LIMIT_RS"));
    assertNull(cm.get("LANG_CPU_LIMIT_JAVA"));
    assertEquals("12", cm.get("K8S_MAX_PODS"));
    assertEquals("4", cm.get("K8S_MAX_JOBS"));
    assertEquals("Always", cm.get("K8S_IMAGE_PULL_POLICY"));
    assertEquals("regcred,other", cm.get("K8S_IMAGE_PULL_SECRETS"));
    assertEquals("200m", cm.get("K8S_CPU_REQUEST"));
    assertEquals("2", cm.get("K8S_CPU_LIMIT"));
    assertEquals("300Mi", cm.get("K8S_MEMORY_REQUEST"));
    assertEquals("1Gi", cm.get("K8S_MEMORY_LIMIT"));
    assertEquals("3Gi", cm.get("K8S_EPHEMERAL_STORAGE_LIMIT"));
    assertEquals("gvisor", cm.get("K8S_RUNTIME_CLASS_NAME"));
    assertEquals("{\"pool\":\"sandbox\"}", cm.get("K8S_POD_NODE_SELECTOR"));
    assertEquals(
        "[{\"effect\":\"NoSchedule\",\"key\":\"sandbox\",\"operator\":\"Exists\"}]",
        cm.get("K8S_POD_TOLERATIONS"));
    assertEquals("redis://redis:6379/2", cm.get("REDIS_URL"));
    assertEquals("kcr:", cm.get("REDIS_KEY_PREFIX"));
    assertEquals("minio:9000", cm.get("MINIO_ENDPOINT"));
    assertEquals("false", cm.get("MINIO_SECURE"));
    assertEquals("files", cm.get("MINIO_BUCKET"));
    assertEquals("false", cm.get("MINIO_USE_IAM"));
    // Secrets are never in the ConfigMap; they reach the API from the Secret.
    assertTrue(
        cm.keySet().stream()
            .noneMatch(k -> k.matches(".*(PASSWORD|ACCESS_KEY|SECRET_KEY|API_KEY)")),
        cm::toString);
    Map<String, String> given = new TreeMap<>(secret("production"));
    given.keySet().removeAll(Set.of("METRICS_TOKEN", "CHECKSUM_SALT")); // generated, kept
    assertEquals(
        Map.of("REDIS_PASSWORD", "redis-pw", "MINIO_ACCESS_KEY", "ak", "MINIO_SECRET_KEY", "sk"),
        given);
    JsonNode api = one("production", "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
    for (String name : List.of("REDIS_PASSWORD", "MINIO_ACCESS_KEY", "MINIO_SECRET_KEY")) {
      assertEquals(FULLNAME, env(api, name).at("/valueFrom/secretKeyRef/name").asText(), name);
      assertEquals(name, env(api, name).at("/valueFrom/secretKeyRef/key").asText(), name);
    }
    assertEquals(2, one("production", "Deployment", FULLNAME).at("/spec/replicas").asInt());
    assertEquals(
        "nginx", one("production", "Ingress", FULLNAME).at("/spec/ingressClassName").asText());

    // Off by default: no store settings, no optional sandbox settings.
    Map<String, String> defaults = configMap("defaults");
    for (String absent :
        List.of(
            "REDIS_URL",
            "MINIO_ENDPOINT",
            "K8S_RUNTIME_CLASS_NAME",
            "K8S_POD_NODE_SELECTOR",
            "K8S_POD_TOLERATIONS",
            "K8S_IMAGE_PULL_SECRETS")) {
      assertNull(defaults.get(absent), absent);
    }
    assertTrue(
        rendered.get("defaults").stream()
            .noneMatch(d -> d.path("kind").asText().equals("Ingress")));

    // IAM: no static keys anywhere.
    JsonNode iam = one("iam", "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
    assertNull(envOrNull(iam, "MINIO_ACCESS_KEY"));
    assertEquals("true", configMap("iam").get("MINIO_USE_IAM"));
    assertFalse(secret("iam").containsKey("MINIO_ACCESS_KEY"));
  }

  /**
   * The API reads what the chart renders: the ConfigMap and the Deployment's env go through the
   * API's own configuration parser ({@link Config#from}), which must accept every value, and every
   * variable is one docs/configuration.md documents (no setting the API would ignore). Each
   * language's image is then built from a Dockerfile that serves that language.
   */
  @Test
  void theApiAcceptsWhatTheChartRenders() throws IOException {
    String docs = Files.readString(Path.of("docs/configuration.md"));
    Pattern label = Pattern.compile("(?m)^LABEL dev\\.kubecoderun\\.languages=\"([^\"]*)\"");
    for (String id :
        List.of("defaults", "production", "iam", "jwt", "jwt-files", "jwt-key-in-config")) {
      Map<String, String> env = apiEnv(id);
      for (String name : env.keySet()) {
        String documented = name.replaceFirst("_(" + String.join("|", codes()) + ")$", "_<CODE>");
        assertTrue(
            docs.contains("`" + name + "`")
                || docs.contains("`" + documented + "`")
                || (name.startsWith("POD_POOL_") && docs.contains("`POD_POOL_TS`")),
            id + ": " + name + " is not in docs/configuration.md");
      }
      Config config = Config.from(env);
      assertEquals("kubernetes", config.sandbox().backend());
      Config.Kubernetes k = config.kubernetes();
      assertEquals(SANDBOX_NS, k.namespace());
      assertEquals("set-by-kubernetes-pod-uid", k.ownerPodUid());
      for (Language lang : Language.values()) {
        String image = k.images().get(lang);
        if (id.equals("production") && lang == Language.R) {
          assertEquals("registry.example/custom-r:5", image);
          continue;
        }
        Matcher m = Pattern.compile(".*/([a-z0-9-]+):[^/]+").matcher(image);
        assertTrue(m.matches(), lang + ": " + image);
        Path dockerfile = Path.of("languages", m.group(1) + ".Dockerfile");
        assertTrue(Files.exists(dockerfile), dockerfile + " for " + lang.code());
        Matcher served = label.matcher(Files.readString(dockerfile));
        assertTrue(served.find(), dockerfile + " has no languages label");
        assertTrue(
            List.of(served.group(1).split(" ")).contains(lang.code()),
            dockerfile + " does not serve " + lang.code());
      }
    }
    Config.Kubernetes defaults = Config.from(apiEnv("defaults")).kubernetes();
    assertEquals("kubecoderun/python:" + Application.VERSION, defaults.images().get(Language.PY));
    assertEquals(3, Config.from(apiEnv("defaults")).sandbox().poolSize(Language.PY));
    Config prod = Config.from(apiEnv("production"));
    assertEquals("registry.example/acme/node:2.0", prod.kubernetes().images().get(Language.TS));
    assertEquals("2Gi", prod.kubernetes().memoryLimits().get(Language.JAVA));
    assertEquals("1Gi", prod.kubernetes().memoryLimits().get(Language.PY));
    assertEquals("3", prod.kubernetes().cpuLimits().get(Language.RS));
    assertEquals(List.of("regcred", "other"), prod.kubernetes().imagePullSecrets());
    assertEquals(Map.of("pool", "sandbox"), prod.kubernetes().nodeSelector());
    assertEquals("gvisor", prod.kubernetes().runtimeClassName());
    assertEquals(12, prod.kubernetes().maxPods());
    assertEquals(9, prod.sandbox().poolSize(Language.PY));

    // The defaults: API keys only, the API's own bounds.
    Config plain = Config.from(apiEnv("defaults"));
    assertEquals(Authenticator.Mode.LEGACY_API_KEY, plain.auth().provider());
    assertNull(plain.auth().jwt());
    assertTrue(plain.auth().rateLimitEnabled());
    Config.Server apiDefaults = Config.from(Map.of("API_KEY", "k".repeat(16))).server();
    assertEquals(apiDefaults.maxConnections(), plain.server().maxConnections());
    assertEquals(apiDefaults.maxConcurrentRequests(), plain.server().maxConcurrentRequests());
    assertEquals(apiDefaults.idleConnectionTimeout(), plain.server().idleConnectionTimeout());
    assertEquals(List.of(), plain.server().trustedProxies(), "X-Forwarded-For ignored");

    // LibreChat's JWTs with inline keys: the API reads both keys from what the ConfigMap holds.
    Config jwt = Config.from(apiEnv("jwt"));
    assertEquals(Authenticator.Mode.LIBRECHAT_JWT, jwt.auth().provider());
    assertEquals("lc-prod", jwt.auth().jwt().issuer());
    assertEquals("code", jwt.auth().jwt().audience());
    assertEquals(Set.of("EdDSA"), jwt.auth().jwt().allowedAlgorithms());
    assertEquals("acme", jwt.auth().jwt().singleTenantId());
    assertFalse(jwt.auth().rateLimitEnabled());
    assertEquals(
        Map.of(RateWindow.MINUTE, 60L, RateWindow.HOUR, 1000L), jwt.auth().jwtRateLimits());
    assertEquals(2000, jwt.server().maxConnections());
    assertEquals(100, jwt.server().maxConcurrentRequests());
    assertEquals(Duration.ofSeconds(30), jwt.server().idleConnectionTimeout());
    assertEquals("[10.244.0.0/16, fd00::/8]", jwt.server().trustedProxies().toString());
    JwtKeys keys = JwtKeys.load(jwt.auth().jwt().keys());
    assertNotNull(keys.find("lc-codeapi-2026-05"), "the PEM key under its kid");
    assertNotNull(keys.find("rotated"), "the JWKS key");
    assertNotEquals(keys.find("lc-codeapi-2026-05"), keys.find("rotated"));

    // Key files: where the Deployment mounts them.
    Config files = Config.from(apiEnv("jwt-files"));
    assertEquals(Authenticator.Mode.BOTH, files.auth().provider());
    assertEquals(
        Path.of("/etc/kubecoderun/jwt-jwks/jwks.json"), files.auth().jwt().keys().jwksFile());
    assertEquals(Path.of("/etc/kubecoderun/jwt-keys"), files.auth().jwt().keys().keysDir());
    assertEquals(Duration.ofSeconds(10), files.auth().jwt().keys().reload());
    assertTrue(files.auth().jwt().strictTenant());

    assertEquals(
        Authenticator.Mode.LIBRECHAT_JWT,
        Config.from(apiEnv("jwt-key-in-config")).auth().provider());
  }

  /**
   * The auth values reach the ConfigMap (public keys are no secret: nothing of them goes into the
   * Secret), and a JWKS or key directory from the operator's ConfigMap or Secret is mounted
   * read-only, whole (no subPath, so the kubelet's updates reach the API), where the env says.
   */
  @Test
  void authValuesReachTheConfigMapAndTheKeyFilesAreMounted() throws IOException {
    Map<String, String> cm = configMap("jwt");
    assertEquals("librechat-jwt", cm.get("CODEAPI_AUTH_PROVIDER"));
    assertEquals("lc-prod", cm.get("CODEAPI_JWT_ISSUER"));
    assertEquals("code", cm.get("CODEAPI_JWT_AUDIENCE"));
    assertEquals("EdDSA", cm.get("CODEAPI_JWT_ALLOWED_ALGS"));
    assertEquals("lc-codeapi-2026-05", cm.get("CODEAPI_JWT_KID"));
    assertEquals(PEM.strip(), cm.get("CODEAPI_JWT_PUBLIC_KEY"));
    JsonNode jwks = new ObjectMapper().readTree(cm.get("CODEAPI_JWT_JWKS_JSON"));
    assertEquals(JWK_X, jwks.at("/keys/0/x").asText());
    assertEquals("rotated", jwks.at("/keys/0/kid").asText());
    assertEquals("hourly=1000,per_minute=60", cm.get("JWT_RATE_LIMITS"));
    assertEquals("false", cm.get("RATE_LIMIT_ENABLED"));
    assertEquals("2000", cm.get("MAX_CONNECTIONS"));
    assertEquals("100", cm.get("MAX_CONCURRENT_REQUESTS"));
    assertEquals("30", cm.get("IDLE_CONNECTION_TIMEOUT_SECONDS"));
    assertEquals("10.244.0.0/16,fd00::/8", cm.get("TRUSTED_PROXIES"));
    assertEquals("acme", cm.get("CODEAPI_JWT_SINGLE_TENANT_ID"));
    assertEquals(Set.of("API_KEY", "METRICS_TOKEN", "CHECKSUM_SALT"), secret("jwt").keySet());
    JsonNode spec = one("jwt", "Deployment", FULLNAME).at("/spec/template/spec");
    assertEquals(
        List.of("tmp", "data"),
        spec.path("volumes").findValuesAsText("name"),
        "inline keys need no volume");

    // The defaults: no auth setting but the bounds, so the API picks its own provider.
    Map<String, String> plain = configMap("defaults");
    assertTrue(
        plain.keySet().stream().noneMatch(k -> k.startsWith("CODEAPI_") || k.startsWith("JWT_")),
        plain::toString);
    assertEquals("512", plain.get("MAX_CONNECTIONS"));
    assertEquals("256", plain.get("MAX_CONCURRENT_REQUESTS"));
    assertEquals("60", plain.get("IDLE_CONNECTION_TIMEOUT_SECONDS"));
    assertFalse(plain.containsKey("TRUSTED_PROXIES"), "the API's default: no proxy trusted");
    assertEquals("true", plain.get("RATE_LIMIT_ENABLED"));

    Map<String, String> files = configMap("jwt-files");
    assertEquals("both", files.get("CODEAPI_AUTH_PROVIDER"));
    assertEquals("/etc/kubecoderun/jwt-jwks/jwks.json", files.get("CODEAPI_JWT_JWKS_FILE"));
    assertEquals("/etc/kubecoderun/jwt-keys", files.get("CODEAPI_JWT_PUBLIC_KEYS_DIR"));
    assertEquals("10", files.get("CODEAPI_JWT_KEY_CACHE_TTL_SECONDS"));
    assertEquals("true", files.get("CODEAPI_TENANT_ISOLATION_STRICT"));
    spec = one("jwt-files", "Deployment", FULLNAME).at("/spec/template/spec");
    JsonNode jwksVolume = volume(spec, "jwt-jwks");
    assertEquals("lc-jwks", jwksVolume.at("/secret/secretName").asText());
    assertEquals("codeapi.json", jwksVolume.at("/secret/items/0/key").asText());
    assertEquals("jwks.json", jwksVolume.at("/secret/items/0/path").asText());
    assertEquals("lc-keys", volume(spec, "jwt-keys").at("/configMap/name").asText());
    assertTrue(volume(spec, "jwt-keys").at("/configMap/items").isMissingNode(), "every entry");
    Map<String, JsonNode> mounts = new TreeMap<>();
    spec.at("/containers/0/volumeMounts").forEach(m -> mounts.put(m.path("name").asText(), m));
    for (var m :
        Map.of("jwt-jwks", "/etc/kubecoderun/jwt-jwks", "jwt-keys", "/etc/kubecoderun/jwt-keys")
            .entrySet()) {
      JsonNode mount = mounts.get(m.getKey());
      assertNotNull(mount, m.getKey());
      assertEquals(m.getValue(), mount.path("mountPath").asText());
      assertTrue(mount.path("readOnly").asBoolean(), m.getKey() + " read-only");
      assertTrue(mount.path("subPath").isMissingNode(), m.getKey() + " without subPath");
    }

    Map<String, String> both = configMap("jwt-jwks-configmap");
    assertEquals("{\"keys\":[]}", both.get("CODEAPI_JWT_JWKS_JSON"));
    assertEquals("/etc/kubecoderun/jwt-jwks/jwks.json", both.get("CODEAPI_JWT_JWKS_FILE"));
    JsonNode cmVolume =
        volume(
            one("jwt-jwks-configmap", "Deployment", FULLNAME).at("/spec/template/spec"),
            "jwt-jwks");
    assertEquals("lc-jwks", cmVolume.at("/configMap/name").asText());
    assertEquals("jwks.json", cmVolume.at("/configMap/items/0/key").asText());
  }

  static JsonNode volume(JsonNode podSpec, String name) {
    for (JsonNode v : podSpec.path("volumes")) {
      if (v.path("name").asText().equals(name)) {
        return v;
      }
    }
    fail("no volume " + name + " in " + podSpec.path("volumes"));
    return null;
  }

  static List<String> codes() {
    return Arrays.stream(Language.values()).map(l -> l.code().toUpperCase(Locale.ROOT)).toList();
  }

  /**
   * The API container's environment: the ConfigMap, plus the Deployment's own entries (downward
   * API, Secret values) with the values Kubernetes would put there.
   */
  static Map<String, String> apiEnv(String id) {
    Map<String, String> env = new TreeMap<>(configMap(id));
    JsonNode api = one(id, "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
    for (JsonNode e : api.path("env")) {
      String name = e.path("name").asText();
      String from = e.at("/valueFrom/secretKeyRef").isMissingNode() ? "" : "secret-";
      env.put(name, "set-by-kubernetes-" + from + name.toLowerCase(Locale.ROOT).replace('_', '-'));
    }
    return env;
  }

  @Test
  void valuesThatCannotWorkFailWithAMessage() {
    assertTrue(
        errors
            .get("bad-replicas")
            .contains("replicaCount > 1 needs redis.enabled and minio.enabled"),
        errors::toString);
    assertTrue(
        errors.get("bad-language").contains("sandbox.podPool.python: unknown language"),
        errors::toString);
    assertTrue(
        errors.get("bad-pool-size").contains("sandbox.podPool.py must be 0-100"), errors::toString);
    assertTrue(errors.get("short-key").contains("at least 16 characters"), errors::toString);
    assertTrue(
        errors.get("bad-minio").contains("minio.enabled needs minio.accessKey"), errors::toString);
    assertTrue(
        errors.get("pools-over-max").contains("do not fit in sandbox.maxPods (9)"),
        errors::toString);
    assertTrue(errors.get("bad-lang-limits").contains("unknown language python"), errors::toString);
    assertTrue(errors.get("short-master").contains("at least 32 characters"), errors::toString);
    for (String id : List.of("config-master-key", "config-redis-password", "config-aws-secret")) {
      assertTrue(
          errors.get(id).contains("is a credential: the ConfigMap holds it in clear"),
          () -> id + ": " + errors);
    }
    assertTrue(
        errors
            .get("extra-env-plain-credential")
            .contains("extraEnv MASTER_API_KEY is a credential with a plain value"),
        errors::toString);
    assertTrue(
        errors
            .get("extra-env-credential-from-config-map")
            .contains("extraEnv API_KEYS is a credential from a ConfigMap"),
        errors::toString);
    for (String id :
        List.of(
            "redis-url-password",
            "config-redis-url-password",
            "redis-url-bare-password",
            "extra-env-redis-url-password")) {
      assertTrue(errors.get(id).contains("carries a password"), () -> id + ": " + errors);
    }
    assertTrue(
        errors.get("non-ascii-master").contains("masterKey.value must be printable ASCII"),
        errors::toString);
    assertTrue(
        errors.get("short-metrics-token").contains("metrics.token.value must be at least 32"),
        errors::toString);
    assertTrue(
        errors.get("metrics-token-is-master").contains("must differ from masterKey.value"),
        errors::toString);
    assertTrue(
        errors
            .get("jwt-no-key")
            .contains("auth.provider=librechat-jwt needs LibreChat's public key"),
        errors::toString);
    assertTrue(
        errors.get("both-no-key").contains("auth.provider=both needs LibreChat's public key"),
        errors::toString);
    assertTrue(
        errors.get("jwks-two-sources").contains("auth.jwt.jwksFrom: configMap or secret"),
        errors::toString);
    assertTrue(errors.get("jwt-private-key").contains("hold a PRIVATE key"), errors::toString);
    assertTrue(
        errors.get("jwt-not-pem").contains("auth.jwt.publicKey must be a PEM public key"),
        errors::toString);
    Set<String> expected =
        new TreeSet<>(
            Set.of(
                "bad-replicas",
                "bad-language",
                "bad-pool-size",
                "short-key",
                "bad-minio",
                "pools-over-max",
                "bad-lang-limits",
                "short-master",
                "config-master-key",
                "config-redis-password",
                "config-aws-secret",
                "redis-url-password",
                "config-redis-url-password",
                "redis-url-bare-password",
                "extra-env-redis-url-password",
                "extra-env-credential-from-config-map",
                "extra-env-plain-credential",
                "non-ascii-master",
                "short-metrics-token",
                "metrics-token-is-master",
                "bad-user-namespaces",
                "jwt-no-key",
                "both-no-key",
                "jwks-two-sources",
                "jwt-private-key",
                "jwt-not-pem"));
    JOBS.keySet().stream()
        .filter(id -> id.startsWith("type-") || id.startsWith("unknown-"))
        .forEach(expected::add);
    assertEquals(expected, errors.keySet());
  }

  /**
   * The credentials the chart refuses in config (and with a plain extraEnv value) are listed once,
   * in _helpers.tpl: docs/kubernetes.md names the same ones.
   */
  @Test
  void theDocsNameTheCredentialsTheChartRefuses() throws IOException {
    Matcher chart =
        Pattern.compile("\\$credentials := list ([^}]*?) -}}")
            .matcher(Files.readString(CHART.resolve("templates/_helpers.tpl")));
    assertTrue(chart.find(), "the $credentials list in _helpers.tpl");
    Matcher docs =
        Pattern.compile("so the chart refuses (.*?) there, ")
            .matcher(Files.readString(Path.of("docs/kubernetes.md")));
    assertTrue(docs.find(), "the config.<VAR> row of docs/kubernetes.md");
    assertEquals(names(chart.group(1), '"'), names(docs.group(1), '`'));
  }

  /** A credential through extraEnv from a Secret is what the refusals point to: it renders. */
  @Test
  void anExtraEnvCredentialFromASecretIsRendered() {
    JsonNode env =
        one("extra-env-credential-from-secret", "Deployment", FULLNAME)
            .at("/spec/template/spec/containers/0/env");
    List<String> fromSecret = new ArrayList<>();
    for (JsonNode e : env) {
      if (e.path("name").asText().equals("API_KEYS")) {
        fromSecret.add(e.at("/valueFrom/secretKeyRef/name").asText());
      }
    }
    assertEquals(List.of("keys"), fromSecret, env::toString);
  }

  /** The words between {@code quote}s in {@code text}, in order. */
  private static List<String> names(String text, char quote) {
    List<String> out = new ArrayList<>();
    Matcher m = Pattern.compile(quote + "([A-Z0-9_]+)" + quote).matcher(text);
    while (m.find()) {
      out.add(m.group(1));
    }
    return out;
  }

  /** values.schema.json refuses a value of the wrong type, or one the chart does not have. */
  @Test
  void theSchemaRefusesWrongTypesAndUnknownValues() {
    for (String id :
        List.of(
            "type-replicas",
            "type-pool",
            "type-metrics",
            "type-monitor",
            "type-user-ns",
            "type-anti-affinity",
            "type-max-pods",
            "unknown-value",
            "unknown-nested",
            "type-alg",
            "type-provider",
            "type-rate-window",
            "type-connections",
            "type-trusted-proxies")) {
      assertTrue(
          errors.get(id).contains("schema"),
          () -> id + " not refused by the schema: " + errors.get(id));
    }
    assertTrue(errors.get("type-replicas").contains("replicaCount"), errors::toString);
    assertTrue(errors.get("unknown-value").contains("replicaCont"), errors::toString);
    assertTrue(errors.get("type-rate-window").contains("per_week"), errors::toString);
    assertTrue(errors.get("type-max-pods").contains("maxPods"), errors::toString);
    assertTrue(errors.get("type-anti-affinity").contains("apiAntiAffinity"), errors::toString);
    assertTrue(errors.get("type-trusted-proxies").contains("trustedProxies"), errors::toString);
  }

  /**
   * Every value in values.yaml is described by values.schema.json, and every value a template reads
   * is one of them.
   */
  @Test
  void theSchemaDescribesEveryValueTheChartReads() throws IOException {
    JsonNode schema = new ObjectMapper().readTree(CHART.resolve("values.schema.json").toFile());
    JsonNode values = YAML.readTree(CHART.resolve("values.yaml").toFile());
    List<String> missing = new ArrayList<>();
    undescribed("", values, schema, missing);
    assertEquals(List.of(), missing, "values.yaml keys values.schema.json lacks");
    Set<String> read = new TreeSet<>();
    try (var files = Files.list(CHART.resolve("templates"))) {
      for (Path f : files.toList()) {
        Matcher m =
            Pattern.compile("\\.Values((?:\\.[A-Za-z0-9_]+)+)").matcher(Files.readString(f));
        while (m.find()) {
          read.add(m.group(1).substring(1));
        }
      }
    }
    for (String path : read) {
      JsonNode at = values;
      for (String part : path.split("\\.")) {
        at = at.path(part);
      }
      assertFalse(at.isMissingNode(), path + " is read by a template but not in values.yaml");
    }
  }

  private static void undescribed(String at, JsonNode value, JsonNode schema, List<String> out) {
    if (!value.isObject()) {
      return;
    }
    for (var e : value.properties()) {
      JsonNode sub = schema.path("properties").path(e.getKey());
      if (sub.isMissingNode()) {
        sub = schema.path("additionalProperties");
      }
      if (sub.isMissingNode() || sub.isBoolean()) {
        out.add(at + e.getKey());
        continue;
      }
      if (sub.path("properties").isObject() || sub.path("additionalProperties").isObject()) {
        undescribed(at + e.getKey() + ".", e.getValue(), sub, out);
      }
    }
  }

  @Test
  void metricsMonitorsAndTheDashboardToggles() throws IOException {
    Map<String, String> cm = configMap("operations");
    assertEquals("false", cm.get("METRICS_PUBLIC"));
    assertEquals("false", cm.get("ENABLE_DOCS"));
    assertEquals("false", cm.get("ADMIN_DASHBOARD_ENABLED"));
    assertEquals("true", configMap("defaults").get("ADMIN_DASHBOARD_ENABLED"));
    assertEquals(
        "master-key-of-the-chart-test-0123456789", secret("operations").get("MASTER_API_KEY"));
    JsonNode api = one("operations", "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
    assertEquals(FULLNAME, env(api, "MASTER_API_KEY").at("/valueFrom/secretKeyRef/name").asText());
    assertEquals(
        "MASTER_API_KEY", env(api, "MASTER_API_KEY").at("/valueFrom/secretKeyRef/key").asText());
    assertNull(
        envOrNull(
            one("defaults", "Deployment", FULLNAME).at("/spec/template/spec/containers/0"),
            "MASTER_API_KEY"));

    JsonNode sm = one("operations", "ServiceMonitor", FULLNAME);
    assertEquals("prom", sm.at("/metadata/labels/release").asText());
    assertEquals("/metrics", sm.at("/spec/endpoints/0/path").asText());
    assertEquals("http", sm.at("/spec/endpoints/0/port").asText());
    assertEquals("15s", sm.at("/spec/endpoints/0/interval").asText());
    assertEquals("Bearer", sm.at("/spec/endpoints/0/authorization/type").asText());
    assertEquals(FULLNAME, sm.at("/spec/endpoints/0/authorization/credentials/name").asText());
    JsonNode service = one("operations", "Service", FULLNAME);
    sm.at("/spec/selector/matchLabels")
        .properties()
        .forEach(
            l ->
                assertEquals(
                    l.getValue().asText(),
                    service.at("/metadata/labels/" + l.getKey().replace("/", "~1")).asText(),
                    "the ServiceMonitor selects the API Service: " + l.getKey()));
    assertEquals(
        "METRICS_TOKEN", sm.at("/spec/endpoints/0/authorization/credentials/key").asText());
    JsonNode pm = one("operations", "PodMonitor", FULLNAME);
    assertEquals(
        "METRICS_TOKEN",
        pm.at("/spec/podMetricsEndpoints/0/authorization/credentials/key").asText());

    JsonNode dash = one("operations", "ConfigMap", FULLNAME + "-grafana-dashboard");
    assertEquals("1", dash.at("/metadata/labels/grafana_dashboard").asText());
    JsonNode grafana = new ObjectMapper().readTree(dash.at("/data/kubecoderun.json").asText());
    assertEquals("KubeCodeRun", grafana.get("title").asText());
    String exprs = grafana.get("panels").toString();
    for (String metric :
        List.of(
            "http_server_requests_seconds_count",
            "kubecoderun_executions_seconds_bucket",
            "kubecoderun_sandbox_wait_seconds_bucket",
            "kubecoderun_pool_ready",
            "kubecoderun_sandbox_start_seconds_bucket",
            "kubecoderun_files_uploaded_bytes_total",
            "kubecoderun_rate_limit_refusals_total",
            "kubecoderun_store_errors_total",
            "jvm_memory_used_bytes")) {
      assertTrue(exprs.contains(metric), "the Grafana dashboard charts " + metric);
    }

    JsonNode fromSecret =
        one("master-secret", "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
    assertEquals(
        "ops-keys", env(fromSecret, "MASTER_API_KEY").at("/valueFrom/secretKeyRef/name").asText());
    assertEquals(
        "MK", env(fromSecret, "MASTER_API_KEY").at("/valueFrom/secretKeyRef/key").asText());
    assertFalse(secret("master-secret").containsKey("MASTER_API_KEY"));

    assertEquals("true", configMap("metrics-public").get("METRICS_PUBLIC"));
    assertTrue(
        one("metrics-public", "PodMonitor", FULLNAME)
            .at("/spec/podMetricsEndpoints/0/authorization")
            .isMissingNode(),
        "public: no credentials");
    assertTrue(
        rendered.get("defaults").stream()
            .noneMatch(d -> d.path("kind").asText().endsWith("Monitor")));
  }

  /**
   * Prometheus gets the metrics token, never the master key: prometheus-operator copies the
   * credential a monitor names into Prometheus's own configuration Secret, and whoever reads that
   * must not get the admin API. The token is generated and kept like the API key, or taken from the
   * operator's Secret, and it is what the API reads as METRICS_TOKEN.
   */
  @Test
  void theMonitorsSendTheMetricsTokenNeverTheMasterKey() {
    int monitors = 0;
    for (var job : rendered.entrySet()) {
      for (JsonNode doc : job.getValue()) {
        String kind = doc.path("kind").asText();
        JsonNode endpoint =
            switch (kind) {
              case "ServiceMonitor" -> doc.at("/spec/endpoints/0");
              case "PodMonitor" -> doc.at("/spec/podMetricsEndpoints/0");
              default -> null;
            };
        if (endpoint == null || job.getKey().equals("metrics-public")) {
          continue;
        }
        monitors++;
        JsonNode ref = endpoint.at("/authorization/credentials");
        JsonNode api =
            one(job.getKey(), "Deployment", FULLNAME).at("/spec/template/spec/containers/0");
        JsonNode read = env(api, "METRICS_TOKEN").at("/valueFrom/secretKeyRef");
        String where = job.getKey() + " " + kind;
        assertEquals(read.path("name").asText(), ref.path("name").asText(), where);
        assertEquals(read.path("key").asText(), ref.path("key").asText(), where);
        JsonNode master = envOrNull(api, "MASTER_API_KEY");
        if (master != null) {
          JsonNode m = master.at("/valueFrom/secretKeyRef");
          assertFalse(
              m.path("name").asText().equals(ref.path("name").asText())
                  && m.path("key").asText().equals(ref.path("key").asText()),
              where + " sends the master key");
        }
        assertNotEquals("MASTER_API_KEY", ref.path("key").asText(), where);
      }
    }
    assertTrue(monitors >= 4, "monitors checked: " + monitors);

    // A monitor needs no master key any more: the chart's generated token.
    JsonNode sm = one("monitor-no-master", "ServiceMonitor", FULLNAME);
    assertEquals(FULLNAME, sm.at("/spec/endpoints/0/authorization/credentials/name").asText());
    assertEquals(
        "METRICS_TOKEN", sm.at("/spec/endpoints/0/authorization/credentials/key").asText());
    String token = secret("monitor-no-master").get("METRICS_TOKEN");
    assertTrue(token.matches("[A-Za-z0-9]{40}"), token);
    assertNotEquals(token, secret("defaults").get("METRICS_TOKEN"), "new install, new token");
    assertEquals(KEPT_TOKEN, secret("upgrade").get("METRICS_TOKEN"), "an upgrade keeps it");
    assertNotEquals(MASTER, secret("operations").get("METRICS_TOKEN"));

    // The operator's own Secret: the chart generates none.
    assertFalse(secret("metrics-token-secret").containsKey("METRICS_TOKEN"));
    JsonNode pm = one("metrics-token-secret", "PodMonitor", FULLNAME);
    assertEquals(
        "prom-scrape",
        pm.at("/spec/podMetricsEndpoints/0/authorization/credentials/name").asText());
    assertEquals(
        "TOKEN", pm.at("/spec/podMetricsEndpoints/0/authorization/credentials/key").asText());
  }

  /**
   * checksum/secret rolls the pods when a secret value in the values changes, yet reveals nothing
   * of those values to whoever may read pods (not Secrets): it is salted with CHECKSUM_SALT,
   * random, kept in the chart's Secret like the generated keys.
   */
  @Test
  void theSecretChecksumIsSaltedWithASaltKeptInTheSecret() throws Exception {
    // The same values give different checksums on two installs: no guess can be checked offline.
    assertNotEquals(checksum("operations"), unsaltedChecksum("operations"));
    String salt = secret("operations").get("CHECKSUM_SALT");
    assertTrue(salt.matches("[A-Za-z0-9]{40}"), salt);
    assertEquals(saltedChecksum("operations", salt), checksum("operations"));
    assertNotEquals(salt, secret("production").get("CHECKSUM_SALT"));
    assertEquals(
        saltedChecksum("production", secret("production").get("CHECKSUM_SALT")),
        checksum("production"));
    // An upgrade keeps the salt: the same values, the same checksum, no needless roll ...
    assertEquals(KEPT_SALT, secret("upgrade-secrets").get("CHECKSUM_SALT"));
    assertEquals(saltedChecksum("upgrade-secrets", KEPT_SALT), checksum("upgrade-secrets"));
    // ... and a changed value changes it.
    assertNotEquals(checksum("upgrade-secrets"), checksum("upgrade-secrets-changed"));
    // No secret value in the values: nothing to hide, nothing random (helm template gives the
    // same annotation every time).
    assertEquals(checksum("defaults"), checksum("defaults-again"));
    assertEquals(unsaltedChecksum("defaults"), checksum("defaults"));
  }

  static String checksum(String id) {
    return one(id, "Deployment", FULLNAME)
        .at("/spec/template/metadata/annotations/checksum~1secret")
        .asText();
  }

  /** The chart's secret values of a job, in the JSON the template hashes. */
  static String secretValues(String id) {
    JsonNode values;
    try {
      values = YAML.readTree(JOBS.get(id)[1]);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
    List<String> given =
        List.of(
            values.at("/apiKey/value").asText(""),
            values.at("/redis/password").asText(""),
            values.at("/minio/accessKey").asText(""),
            values.at("/minio/secretKey").asText(""),
            values.at("/masterKey/value").asText(""),
            values.at("/metrics/token/value").asText(""));
    try {
      return new ObjectMapper().writeValueAsString(given);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  static String unsaltedChecksum(String id) {
    return sha256(secretValues(id));
  }

  static String saltedChecksum(String id, String salt) {
    return sha256(salt + "\n" + secretValues(id));
  }

  static String sha256(String s) {
    try {
      return java.util.HexFormat.of()
          .formatHex(
              java.security.MessageDigest.getInstance("SHA-256")
                  .digest(s.getBytes(StandardCharsets.UTF_8)));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * pom.xml sets the version; the chart must deploy the same one (its image tags default to it).
   */
  @Test
  void chartVersionIsTheBuildVersion() throws IOException {
    JsonNode chart = new YAMLMapper().readTree(Path.of("charts/kubecoderun/Chart.yaml").toFile());
    assertEquals(Application.VERSION, chart.path("version").asText());
    assertEquals(Application.VERSION, chart.path("appVersion").asText());
  }

  @Test
  void lintPasses() {
    assertTrue(lint.startsWith("OK"), lint);
  }

  // ---------------------------------------------------------------------------------------------

  static JsonNode one(String id, String kind, String name) {
    List<JsonNode> docs = rendered.get(id);
    assertNotNull(docs, () -> id + " did not render: " + errors.get(id));
    List<JsonNode> found =
        docs.stream()
            .filter(d -> d.path("kind").asText().equals(kind))
            .filter(d -> d.at("/metadata/name").asText().equals(name))
            .toList();
    assertEquals(1, found.size(), () -> id + ": one " + kind + " " + name);
    return found.get(0);
  }

  static Map<String, String> configMap(String id) {
    Map<String, String> data = new TreeMap<>();
    one(id, "ConfigMap", FULLNAME)
        .path("data")
        .properties()
        .forEach(e -> data.put(e.getKey(), e.getValue().asText()));
    return data;
  }

  /** The chart's Secret, decoded; empty when the chart renders none. */
  static Map<String, String> secret(String id) {
    Map<String, String> data = new TreeMap<>();
    rendered.get(id).stream()
        .filter(d -> d.path("kind").asText().equals("Secret"))
        .forEach(
            s ->
                s.path("data")
                    .properties()
                    .forEach(
                        e ->
                            data.put(
                                e.getKey(),
                                new String(
                                    Base64.getDecoder().decode(e.getValue().asText()),
                                    StandardCharsets.UTF_8))));
    return data;
  }

  static JsonNode env(JsonNode container, String name) {
    JsonNode e = envOrNull(container, name);
    assertNotNull(e, "env " + name);
    return e;
  }

  static JsonNode envOrNull(JsonNode container, String name) {
    for (JsonNode e : container.path("env")) {
      if (e.path("name").asText().equals(name)) {
        return e;
      }
    }
    return null;
  }

  static String b64(String s) {
    return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  static String readQuietly(Path p) {
    try {
      return Files.readString(p);
    } catch (IOException e) {
      return e.toString();
    }
  }
}
