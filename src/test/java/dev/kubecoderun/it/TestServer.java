package dev.kubecoderun.it;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.Application;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.testing.OpenApiContract;
import dev.kubecoderun.testing.RunnerBinary;
import dev.kubecoderun.testing.SandboxUids;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One real API server for the whole integration suite (starting sandboxes costs CPU on a 2-core
 * machine): the real local backend, real runners in real jails, stores on a temporary disk.
 */
final class TestServer {
  static final String KEY = "integration-test-key-0123456789";

  /** A second API key: another principal. */
  static final String KEY2 = "integration-test-key-other-principal";

  /** LibreChat's signing key of every test server (CODEAPI_JWT_JWKS_JSON). */
  static final dev.kubecoderun.testing.LibreChatTokens TOKENS =
      dev.kubecoderun.testing.LibreChatTokens.ed25519(dev.kubecoderun.testing.LibreChatTokens.KID);

  /** The master key of every test server (the admin API, the dashboard, /metrics). */
  static final String MASTER = "integration-master-key-0123456789abcdef";

  /** The metrics token of every test server (GET /metrics only). */
  static final String METRICS = "integration-metrics-token-0123456789abcdef";

  static final long MAX_FILE_BYTES = 2L * 1024 * 1024;

  private static TestServer instance;

  final Application app;
  final Config config;
  final URI base;
  final Path dataDir;
  final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private TestServer(Application app, Config config, Path dataDir) {
    this.app = app;
    this.config = config;
    this.dataDir = dataDir;
    this.base = URI.create("http://127.0.0.1:" + app.port());
  }

  static synchronized TestServer get() {
    if (instance == null) {
      instance = start(Map.of(), "1");
    }
    return instance;
  }

  private static TestServer realStores;

  /**
   * A second server for the end-to-end and fault tests of the production stores: Redis and S3 of
   * the test servers (redis-server, S3Proxy), one warm Python sandbox.
   */
  static synchronized TestServer withRealStores() {
    if (realStores == null) {
      Map<String, String> env = realStoresEnv("kcr-e2e:", "kcr-e2e");
      env.put("SESSION_QUEUE_TIMEOUT_SECONDS", "8"); // ConcurrentRunsTest waits this long
      // No numpy or pandas ahead of time: these tests load the stores, and a cheap warm sandbox
      // keeps the CPU for that.
      env.put("RUNNER_PY_PRELOAD", "json");
      realStores = start(env, "0");
    }
    return realStores;
  }

  /** The settings of a server on the test Redis (keys under {@code prefix}) and S3 bucket. */
  static Map<String, String> realStoresEnv(String prefix, String bucket) {
    dev.kubecoderun.stores.RedisServer redis = dev.kubecoderun.stores.RedisServer.shared();
    dev.kubecoderun.stores.S3Server s3 = dev.kubecoderun.stores.S3Server.shared();
    Map<String, String> env = new HashMap<>();
    env.put("REDIS_URL", redis.url());
    env.put("REDIS_KEY_PREFIX", prefix);
    env.put("REDIS_SOCKET_TIMEOUT", "2");
    env.put("REDIS_SOCKET_CONNECT_TIMEOUT", "2");
    env.put("MINIO_ENDPOINT", s3.endpoint());
    env.put("MINIO_ACCESS_KEY", dev.kubecoderun.stores.S3Server.ACCESS_KEY);
    env.put("MINIO_SECRET_KEY", dev.kubecoderun.stores.S3Server.SECRET_KEY);
    env.put("MINIO_BUCKET", bucket);
    return env;
  }

  private static TestServer kubernetes;

  /**
   * A server on the Kubernetes backend, in a namespace of its own of the test cluster
   * (KCR_KUBECONFIG, else one started for the run), where the test kubelet runs the sandbox pods
   * from the images scripts/build-images unpacked: pools of one py and one js pod, Jobs for the
   * other languages.
   */
  static synchronized TestServer kubernetes() {
    if (kubernetes == null) {
      try {
        dev.kubecoderun.kube.TestCluster cluster = dev.kubecoderun.kube.TestCluster.get();
        String ns = "kcr-it-" + Long.toHexString(System.nanoTime() & 0xffffffL);
        new io.kubernetes.client.openapi.apis.CoreV1Api(cluster.admin)
            .createNamespace(
                new io.kubernetes.client.openapi.models.V1Namespace()
                    .metadata(new io.kubernetes.client.openapi.models.V1ObjectMeta().name(ns)))
            .execute();
        Map<String, String> env = new HashMap<>();
        env.put("SANDBOX_BACKEND", "kubernetes");
        env.put("KUBECONFIG", cluster.kubeconfig.toString());
        env.put("K8S_NAMESPACE", ns);
        env.put("POD_NAME", "kcr-it");
        env.put("SANDBOX_START_TIMEOUT_SECONDS", "90");
        env.put("MAX_EXECUTION_TIME", "60"); // a cold compile of a Job on a busy machine
        // No CNI in the test cluster: nothing enforces NetworkPolicy, which the start-up check
        // finds.
        env.put("K8S_ALLOW_UNENFORCED_NETWORK_POLICY", "true");
        kubernetes = start(env, "1");
        kubernetes.images = imagesDir();
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError(e);
      } catch (io.kubernetes.client.openapi.ApiException e) {
        throw new AssertionError("cannot create the test namespace: " + e.getResponseBody(), e);
      }
    }
    return kubernetes;
  }

  // The unpacked images the test kubelet runs (Kubernetes server only), else null.
  private Path images;

  private static Path imagesDir() {
    String dir = System.getenv("KCR_IMAGE_ROOTFS");
    return Path.of(dir == null || dir.isBlank() ? "target/images" : dir).toAbsolutePath();
  }

  /**
   * Whether this server can run {@code lang}: always on the local backend; on Kubernetes when the
   * language's image is built and unpacked (scripts/test builds python, node, c-cpp and bash; all
   * of them with KCR_ALL_IMAGES=1).
   */
  boolean canRun(String lang) {
    if (images == null) {
      return true;
    }
    String image =
        config
            .kubernetes()
            .images()
            .get(dev.kubecoderun.language.Language.parse(lang).orElseThrow());
    String name = image.replaceAll("@.*$", "").replaceAll(":[^/:]*$", "").replace('/', '_');
    return Files.isDirectory(images.resolve(name).resolve("rootfs"));
  }

  /** A client whose connections come from {@code address} (all of 127/8 is the loopback). */
  static HttpClient clientFrom(String address) {
    try {
      return HttpClient.newBuilder()
          .localAddress(java.net.InetAddress.getByName(address))
          .connectTimeout(Duration.ofSeconds(5))
          .build();
    } catch (java.net.UnknownHostException e) {
      throw new AssertionError(e);
    }
  }

  /**
   * A server of the caller's, with {@code extra} settings (DATA_DIR and POD_POOL_PY among them, or
   * a new temporary directory and one warm Python); close its {@link #app} after.
   */
  static TestServer start(Map<String, String> extra, String jsPool) {
    return start(extra, jsPool, java.time.Clock.systemUTC());
  }

  /** {@link #start(Map, String)} on {@code clock}: sessions expire when the test moves it on. */
  static TestServer start(Map<String, String> extra, String jsPool, java.time.Clock clock) {
    {
      try {
        Path data =
            extra.containsKey("DATA_DIR")
                ? Path.of(extra.get("DATA_DIR"))
                : Files.createTempDirectory("kcr-it-");
        Map<String, String> env = new HashMap<>(extra);
        env.put("API_KEY", KEY);
        env.putIfAbsent("API_KEYS", KEY2);
        env.putIfAbsent("MASTER_API_KEY", MASTER);
        env.putIfAbsent("METRICS_TOKEN", METRICS);
        // Every test client is 127.0.0.1 and many send wrong keys on purpose: the throttle of
        // guessing would answer their later checks 429. AuthThrottleTest turns it on.
        env.putIfAbsent("AUTH_FAILURE_LIMIT", "0");
        // LibreChat's JWTs beside the keys (CODEAPI_AUTH_PROVIDER then defaults to "both").
        env.putIfAbsent("CODEAPI_JWT_JWKS_JSON", TOKENS.jwks());
        env.put("PATH", System.getenv("PATH")); // where the toolchains are found
        env.put("API_HOST", "127.0.0.1");
        env.put("API_PORT", "0");
        env.put("DATA_DIR", data.toString());
        env.put("RUNNER_BIN", RunnerBinary.path());
        env.putIfAbsent("POD_POOL_PY", "1");
        env.put("POD_POOL_JS", jsPool);
        env.put("MAX_EXECUTION_TIME", "20");
        env.put("MAX_FILE_SIZE_MB", "2");
        env.put("MAX_FILES_PER_REQUEST", "5");
        env.put("EXECUTION_QUEUE_TIMEOUT_SECONDS", "120");
        env.put("SHUTDOWN_GRACE_SECONDS", "5");
        env.putAll(extra);
        env.values().removeIf(v -> v == null);
        TestServer server =
            SandboxUids.start(
                env,
                e -> {
                  Config config = Config.from(e);
                  return new TestServer(Application.start(config, null, clock), config, data);
                });
        Runtime.getRuntime().addShutdownHook(new Thread(server.app::close));
        return server;
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /** A response with its body as text and, when it is JSON, as a tree. */
  record Reply(int status, String body, HttpResponse<byte[]> raw) {
    JsonNode json() {
      try {
        return Json.tree(body.getBytes(StandardCharsets.UTF_8));
      } catch (IOException e) {
        throw new AssertionError("not JSON (" + status + "): " + body, e);
      }
    }

    String header(String name) {
      return raw.headers().firstValue(name).orElse(null);
    }
  }

  /** A gauge (or any unlabelled sample) of GET /metrics, read with the master key. */
  double gauge(String name) {
    Reply r =
        send(HttpRequest.newBuilder(base.resolve("/metrics")).header("X-API-Key", MASTER).GET());
    java.util.regex.Matcher m =
        java.util.regex.Pattern.compile("(?m)^" + name + " (\\S+)$").matcher(r.body());
    if (!m.find()) {
      throw new AssertionError(name + " not in /metrics: " + r.body());
    }
    return Double.parseDouble(m.group(1));
  }

  /**
   * Sends the request; every answer is checked against GET /openapi.json's description of its route
   * and status (OpenApiContract), so each integration test also tests the document.
   */
  Reply send(HttpRequest.Builder req) {
    return send(http, req);
  }

  /** {@link #send(HttpRequest.Builder)} with another client (e.g. bound to another address). */
  Reply send(HttpClient client, HttpRequest.Builder req) {
    try {
      HttpRequest built = req.timeout(Duration.ofSeconds(120)).build();
      HttpResponse<byte[]> r = client.send(built, HttpResponse.BodyHandlers.ofByteArray());
      Reply reply = new Reply(r.statusCode(), new String(r.body(), StandardCharsets.UTF_8), r);
      OpenApiContract.shared()
          .check(
              built.method(),
              built.uri().getRawPath(),
              r.statusCode(),
              r.headers().firstValue("Content-Type").orElse(null),
              r.body());
      return reply;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new AssertionError(e);
    }
  }

  HttpRequest.Builder request(String path) {
    return HttpRequest.newBuilder(base.resolve(path)).header("X-API-Key", KEY);
  }

  /** The calls of {@link TestServer}, made with another API key. */
  Caller withKey(String key) {
    return new Caller(this, "X-API-Key", key);
  }

  /** The calls of {@link TestServer}, made as a LibreChat user (a bearer JWT). */
  Caller asUser(String tenant, String sub) {
    return new Caller(this, "Authorization", "Bearer " + TOKENS.token(tenant, sub));
  }

  /** Requests with one credential header. */
  record Caller(TestServer server, String header, String value) {
    HttpRequest.Builder request(String path) {
      return HttpRequest.newBuilder(server.base.resolve(path)).header(header, value);
    }

    Reply get(String path) {
      return server.send(request(path).GET());
    }

    Reply delete(String path) {
      return server.send(request(path).DELETE());
    }

    Reply postJson(String path, String json) {
      return server.send(
          request(path)
              .header("Content-Type", "application/json")
              .POST(HttpRequest.BodyPublishers.ofString(json)));
    }

    Reply post(String path, byte[] body) {
      return server.send(
          request(path)
              .header("Content-Type", "application/octet-stream")
              .POST(HttpRequest.BodyPublishers.ofByteArray(body)));
    }

    Reply exec(Map<String, Object> body) {
      return postJson("/v1/exec", Json.writeString(body));
    }

    Reply upload(String filename, byte[] content, Map<String, String> fields) {
      return server.send(server.multipart(request("/v1/upload"), filename, content, fields));
    }
  }

  Reply get(String path) {
    return send(request(path).GET());
  }

  Reply delete(String path) {
    return send(request(path).DELETE());
  }

  Reply postJson(String path, String json) {
    return send(
        request(path)
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(json)));
  }

  Reply exec(Map<String, Object> body) {
    return postJson("/v1/exec", Json.writeString(body));
  }

  Reply exec(String lang, String code) {
    return exec(Map.of("lang", lang, "code", code));
  }

  /** The names of session {@code sid}'s files, oldest first, as the test key lists them. */
  List<String> fileNames(String sid) {
    Reply r = get("/v1/files/" + sid + "?detail=simple");
    org.junit.jupiter.api.Assertions.assertEquals(200, r.status(), r.body());
    List<String> names = new ArrayList<>();
    r.json().forEach(f -> names.add(f.path("name").asText()));
    return names;
  }

  /** POST /upload with one {@code file} part plus form fields. */
  Reply upload(String path, String filename, byte[] content, Map<String, String> fields) {
    return send(multipart(request(path), filename, content, fields));
  }

  HttpRequest.Builder multipart(
      HttpRequest.Builder req, String filename, byte[] content, Map<String, String> fields) {
    String boundary = "kcrTestBoundary" + System.nanoTime();
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      for (var f : fields.entrySet()) {
        out.write(
            ("--"
                    + boundary
                    + "\r\nContent-Disposition: form-data; name=\""
                    + f.getKey()
                    + "\"\r\n\r\n"
                    + f.getValue()
                    + "\r\n")
                .getBytes(StandardCharsets.UTF_8));
      }
      out.write(
          ("--"
                  + boundary
                  + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\""
                  + filename
                  + "\"\r\nContent-Type: application/octet-stream\r\n\r\n")
              .getBytes(StandardCharsets.UTF_8));
      out.write(content);
      out.write(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return req.header("Content-Type", "multipart/form-data; boundary=" + boundary)
        .POST(HttpRequest.BodyPublishers.ofByteArray(out.toByteArray()));
  }

  /** POST /v1/upload/batch into session {@code sid}: a {@code files} part per entry, in order. */
  Reply uploadBatch(String sid, Map<String, byte[]> files) {
    String boundary = "kcrTestBoundary" + System.nanoTime();
    ByteArrayOutputStream body = new ByteArrayOutputStream();
    body.writeBytes(
        ("--"
                + boundary
                + "\r\nContent-Disposition: form-data; name=\"session_id\"\r\n\r\n"
                + sid
                + "\r\n")
            .getBytes(StandardCharsets.UTF_8));
    for (var f : files.entrySet()) {
      body.writeBytes(
          ("--"
                  + boundary
                  + "\r\nContent-Disposition: form-data; name=\"files\"; filename=\""
                  + f.getKey()
                  + "\"\r\nContent-Type: application/octet-stream\r\n\r\n")
              .getBytes(StandardCharsets.UTF_8));
      body.writeBytes(f.getValue());
      body.writeBytes("\r\n".getBytes(StandardCharsets.UTF_8));
    }
    body.writeBytes(("--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
    return send(
        request("/v1/upload/batch")
            .header("Content-Type", "multipart/form-data; boundary=" + boundary)
            .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())));
  }

  Reply upload(String filename, String content) {
    return upload("/upload", filename, content.getBytes(StandardCharsets.UTF_8), Map.of());
  }
}
