package dev.kubecoderun.sandbox.kubernetes;

import com.fasterxml.jackson.databind.JsonNode;
import dev.kubecoderun.common.Json;
import dev.kubecoderun.common.RandomHex;
import dev.kubecoderun.common.Texts;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.sandbox.RunnerClient;
import dev.kubecoderun.sandbox.RunnerRequest;
import dev.kubecoderun.sandbox.RunnerResult;
import dev.kubecoderun.sandbox.SandboxException;
import io.helidon.webclient.api.WebClient;
import io.kubernetes.client.openapi.ApiException;
import io.kubernetes.client.openapi.models.V1Pod;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * The start-up check of what the cluster really gives sandboxes: one probe pod, as hardened as the
 * others, runs a Python program as user code that reports what it sees (its uid map: is it in a
 * user namespace of its own; its cgroup's pids limit) and tries to connect to what no sandbox may
 * reach: this API, the Kubernetes API, the addresses of K8S_EGRESS_CHECK_ADDRESSES (a public one
 * and the cloud metadata endpoint by default) and the API's stores (Redis, S3) where they are on a
 * private network. Names are resolved here: a sandbox has no DNS, and a name it cannot resolve
 * would pass for an address it cannot reach. A connection that succeeds means the NetworkPolicy is
 * not enforced (or lets sandboxes through to something they must not reach). With
 * K8S_USER_NAMESPACES=auto the probe pod asks for {@code hostUsers: false}; when that does not work
 * (the API server drops the field, the pod does not start, or it still runs in the host's user
 * namespace), sandboxes get a distinct uid each instead.
 */
final class IsolationProbe {
  private static final Logger LOG = Logger.getLogger(IsolationProbe.class.getName());

  // User code: what it sees and what it can reach, as one JSON line.
  private static final String PROGRAM =
      """
      import json, os, socket, threading
      TARGETS = %s
      r = {"uid": os.getuid()}
      try:
          m = open("/proc/self/uid_map").read().split()
          r["uid_map"] = " ".join(m)
          r["user_namespace"] = m[:3] != ["0", "0", "4294967295"]
      except OSError as e:
          r["uid_map"] = str(e)
          r["user_namespace"] = None
      def pids_max():
          try:
              lines = open("/proc/self/cgroup").read().splitlines()
          except OSError:
              return None
          for line in lines:
              _, ctl, path = line.split(":", 2)
              if ctl == "" or "pids" in ctl.split(","):
                  root = "/sys/fs/cgroup" if ctl == "" else "/sys/fs/cgroup/pids"
                  for d in (root + path, root):
                      try:
                          return open(os.path.join(d, "pids.max")).read().strip()
                      except OSError:
                          pass
          return None
      r["pids_max"] = pids_max()
      r["connect"] = {}
      def attempt(target, address):
          host, port = address.rsplit(":", 1)
          host = host.strip("[]")
          s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
          s.settimeout(3)
          try:
              s.connect((host, int(port)))
              res = "connected"
          except socket.timeout:
              res = "timeout"
          except ConnectionRefusedError:
              res = "refused"
          except OSError as e:
              res = "error: " + (e.strerror or str(e))
          finally:
              s.close()
          r["connect"][target] = res
      threads = [threading.Thread(target=attempt, args=(t, a)) for t, a in TARGETS]
      for t in threads:
          t.start()
      for t in threads:
          t.join()
      print(json.dumps(r))
      """;

  private final SandboxIsolation isolation;
  private final SandboxObjects objects;
  private final PodWatcher watcher;
  private final PodSpecs specs;
  private final WebClient http;
  private final Duration startTimeout;
  private final List<String> targets;
  private final List<String> stores;
  private final Consumer<String> track;
  private final Consumer<String> untrack;

  /**
   * @param kubernetesApi host:port of the Kubernetes API as the API reaches it
   * @param stores host:port of the API's stores (Redis, S3): tried where they resolve to a private
   *     address (a public one is the internet, which K8S_EGRESS_CHECK_ADDRESSES stands for)
   * @param track, untrack keep the probe pod out of the stray sweep while it lives
   */
  IsolationProbe(
      SandboxIsolation isolation,
      SandboxObjects objects,
      PodWatcher watcher,
      PodSpecs specs,
      WebClient http,
      Duration startTimeout,
      String kubernetesApi,
      List<String> stores,
      Consumer<String> track,
      Consumer<String> untrack) {
    this.isolation = isolation;
    this.objects = objects;
    this.watcher = watcher;
    this.specs = specs;
    this.http = http;
    this.startTimeout = startTimeout;
    this.track = track;
    this.untrack = untrack;
    List<String> t = new ArrayList<>();
    Config.Isolation config = isolation.config();
    if (config.apiAddress() != null) {
      t.add(config.apiAddress());
    }
    if (kubernetesApi != null) {
      t.add(kubernetesApi);
    }
    t.addAll(config.egressTargets());
    this.targets = List.copyOf(t);
    this.stores = List.copyOf(stores);
  }

  /**
   * What the probe pod tries, each target with the address it connects to: the fixed ones, then the
   * stores that resolve to a private address (looked up once at each check, start and re-checks: a
   * Service's address may change). A name that does not resolve here is passed as is.
   */
  static Map<String, String> addresses(List<String> targets, List<String> stores) {
    Map<String, String> out = new LinkedHashMap<>();
    for (String target : targets) {
      InetAddress ip = resolve(target);
      out.put(target, ip == null ? target : address(ip, port(target)));
    }
    for (String store : stores) {
      InetAddress ip = resolve(store);
      if (ip != null && isPrivate(ip)) {
        out.putIfAbsent(store, address(ip, port(store)));
      }
    }
    return out;
  }

  /** The probe pod's program: it tries each target at its address (see {@link #addresses}). */
  static String program(Map<String, String> tried) {
    List<List<String>> pairs = new ArrayList<>();
    tried.forEach((target, address) -> pairs.add(List.of(target, address)));
    return PROGRAM.formatted(Json.writeString(pairs));
  }

  /** The target's host resolved, or null when it does not resolve. */
  private static InetAddress resolve(String target) {
    String host = target.substring(0, target.lastIndexOf(':'));
    if (host.startsWith("[") && host.endsWith("]")) {
      host = host.substring(1, host.length() - 1);
    }
    try {
      return InetAddress.getByName(host);
    } catch (UnknownHostException | SecurityException e) {
      return null;
    }
  }

  private static String port(String target) {
    return target.substring(target.lastIndexOf(':') + 1);
  }

  private static String address(InetAddress ip, String port) {
    return (ip instanceof Inet6Address ? "[" + ip.getHostAddress() + "]" : ip.getHostAddress())
        + ":"
        + port;
  }

  /**
   * Loopback, link-local (cloud metadata), RFC 1918, carrier-grade NAT (100.64.0.0/10, some
   * clusters' pod or service ranges) or IPv6 unique local: an address of the cluster's own network
   * rather than of the internet.
   */
  static boolean isPrivate(InetAddress ip) {
    byte[] b = ip.getAddress();
    return ip.isLoopbackAddress()
        || ip.isLinkLocalAddress()
        || ip.isSiteLocalAddress()
        || ip.isAnyLocalAddress()
        || (b.length == 4 && (b[0] & 0xff) == 100 && (b[1] & 0xc0) == 64)
        || (b.length == 16 && (b[0] & 0xfe) == 0xfc);
  }

  /** What one probe pod found (and the node it ran on), or why it found nothing. */
  private record Attempt(JsonNode seen, String node, String error, boolean fieldDropped) {}

  /**
   * Runs the check and gives its decision and findings to the isolation. Never throws. True when
   * the probe pod ran and tried the addresses (whatever it reached); false when the check must be
   * run again to know anything of the network.
   */
  boolean run() {
    Config.UserNamespaces mode = isolation.config().userNamespaces();
    Map<String, Object> findings = new LinkedHashMap<>();
    Map<String, String> addresses = addresses(targets, stores);
    Attempt first = attempt(mode != Config.UserNamespaces.OFF, addresses);
    boolean userns = false;
    Attempt seen = first;
    if (mode == Config.UserNamespaces.OFF) {
      findings.put("user_namespaces", "off (K8S_USER_NAMESPACES=off)");
    } else if (first.error() == null && first.seen().path("user_namespace").asBoolean(false)) {
      userns = true;
      findings.put(
          "user_namespaces",
          "on: a pod with hostUsers: false runs as uid 65532 mapped to host ids of its own ("
              + first.seen().path("uid_map").asText()
              + ")");
    } else {
      String why =
          first.fieldDropped()
              ? "the API server drops hostUsers (Kubernetes before 1.25, or the"
                  + " UserNamespacesSupport feature gate off)"
              : first.error() != null
                  ? "a pod with hostUsers: false did not run (" + first.error() + ")"
                  : "a pod with hostUsers: false still ran in the host's user namespace (uid map "
                      + first.seen().path("uid_map").asText()
                      + "): the kubelet or runtime ignores it";
      findings.put(
          "user_namespaces",
          "unavailable: "
              + why
              + (mode == Config.UserNamespaces.ON
                  ? "; K8S_USER_NAMESPACES=on keeps asking for it"
                  : "; sandbox pods run as a distinct uid each instead"));
      if (first.error() != null
          && mode == Config.UserNamespaces.AUTO
          && !Thread.currentThread().isInterrupted()) { // not when the API is stopping
        seen = attempt(false, addresses); // the egress check still needs a pod that runs
      }
    }
    boolean good = seen.error() == null && (userns || mode != Config.UserNamespaces.ON);
    List<String> tried = List.copyOf(addresses.keySet());
    String reachedTargets = null;
    if (seen.error() != null) {
      findings.put(
          "network_policy", "not checked: the probe pod did not run (" + seen.error() + ")");
      findings.put("pods_pids_limit", "not checked");
    } else {
      JsonNode s = seen.seen();
      String pids = s.path("pids_max").asText("");
      findings.put(
          "pods_pids_limit",
          pids.matches("\\d+")
              ? pids + " (pids.max of the sandbox's cgroup)"
              : "not visible inside the pod (its cgroup says \""
                  + pids
                  + "\"): make sure the kubelet's podPidsLimit is set (docs/kubernetes.md)");
      // In the order of the targets (this API first), whatever order the pod answered in.
      Map<String, String> egress = new LinkedHashMap<>();
      JsonNode connect = s.path("connect");
      for (String target : tried) {
        if (connect.has(target)) {
          egress.put(target, connect.get(target).asText());
        }
      }
      connect.properties().forEach(e -> egress.putIfAbsent(e.getKey(), e.getValue().asText()));
      List<String> reached = new ArrayList<>();
      egress.forEach(
          (target, result) -> {
            if (result.equals("connected")) {
              reached.add(target);
            }
          });
      findings.put("egress", egress);
      reachedTargets = reached.isEmpty() ? null : String.join(", ", reached);
      if (reached.isEmpty()) {
        findings.put(
            "network_policy",
            tried.isEmpty()
                ? "not checked: no address to try"
                : "enforced: a sandbox reached none of " + String.join(", ", tried));
      } else {
        good = false;
        findings.put(
            "network_policy",
            "NOT enforced: a sandbox reached "
                + String.join(", ", reached)
                + " (no CNI enforcing NetworkPolicy, the chart's policies off, or a"
                + " networkPolicy.sandboxEgress rule that opens it)");
      }
    }
    findings.put(
        "node_separation",
        nodeSeparation(seen.node(), isolation.config(), specs.apiAntiAffinity() != null));
    findings.put("pod_security", podSecurity(objects, specs));
    boolean networkChecked = seen.error() == null && !tried.isEmpty();
    isolation.decide(userns, findings, good, networkChecked, reachedTargets);
    LOG.info("sandbox isolation: " + isolation.report());
    return networkChecked;
  }

  /**
   * Whether the probe pod ({@code probeNode}: where it ran, null when it did not run), placed like
   * any sandbox, landed on this API pod's node, where a sandbox escaping to the node would find the
   * API's credentials. Reported, never unhealthy: a one-node cluster has no choice. {@code
   * antiAffinity}: whether sandbox pods carry an anti-affinity to the API pods (PodSpecs).
   */
  static String nodeSeparation(String probeNode, Config.Isolation config, boolean antiAffinity) {
    String placement =
        antiAffinity
            ? config.apiAntiAffinity().name().toLowerCase(Locale.ROOT)
                + " anti-affinity to the API pods"
            : "no anti-affinity to the API pods"
                + (config.apiAntiAffinity() == Config.ApiAntiAffinity.OFF
                    ? " (K8S_SANDBOX_API_ANTI_AFFINITY=off)"
                    : " (K8S_API_POD_LABELS unset)");
    if (probeNode == null) {
      return "not checked: the probe pod did not run; " + placement;
    }
    if (config.apiNode() == null) {
      return "unknown: the probe pod ran on node "
          + probeNode
          + ", this API pod's node is not known (NODE_NAME unset); "
          + placement;
    }
    if (probeNode.equals(config.apiNode())) {
      LOG.warning("a sandbox pod ran on this API pod's node " + probeNode + ": " + placement);
      return "SHARED: the probe pod ran on node "
          + probeNode
          + ", this API pod's, where a sandbox escaping to the node would find the API's"
          + " credentials; "
          + placement
          + " (give sandboxes nodes of their own: docs/kubernetes.md, \"Nodes\")";
    }
    return "apart: the probe pod ran on node "
        + probeNode
        + ", this API pod on "
        + config.apiNode()
        + "; "
        + placement;
  }

  /**
   * Whether the API server holds the sandboxes' namespace to the Pod Security Standard "restricted"
   * (the chart labels the namespace it makes; with {@code sandbox.namespace.separate: false} or
   * {@code create: false} the operator must, and a cluster without the PodSecurity admission plugin
   * ignores the labels): a dry run of a pod that breaks it. Reported, never unhealthy: the API's
   * own sandboxes are hardened either way; the label is what stops anyone else allowed to create
   * pods there (this API's credentials, taken) from making a privileged one.
   */
  static String podSecurity(SandboxObjects objects, PodSpecs specs) {
    String refused;
    try {
      refused = objects.refusalOf(specs.unhardenedPod("kcr-pss-check-" + RandomHex.of(5)));
    } catch (ApiException e) {
      return "not checked: " + SandboxObjects.reason(e);
    } catch (RuntimeException e) {
      return "not checked: " + e;
    }
    if (refused == null) {
      LOG.warning(
          "the API server accepts pods that break the Pod Security Standard restricted in "
              + objects.namespace()
              + ": label it pod-security.kubernetes.io/enforce=restricted");
      return "NOT enforced: the API server accepts a pod that breaks the Pod Security Standard"
          + " restricted in namespace "
          + objects.namespace()
          + " (a dry run): label it pod-security.kubernetes.io/enforce=restricted, and keep the"
          + " PodSecurity admission plugin on (docs/kubernetes.md)";
    }
    String why = Texts.cut(refused, 300, "...");
    // The API server's own wording ("pods \"x\" is forbidden: violates PodSecurity ..."): a policy
    // engine's message may name Pod Security without being its admission.
    if (!refused.contains("violates PodSecurity")) {
      // Another admission step (a policy engine, a webhook that cannot take dry runs): it may or
      // may not hold the namespace to restricted.
      return "refused, though not by Pod Security admission: a pod that breaks the Pod Security"
          + " Standard restricted, as a dry run in namespace "
          + objects.namespace()
          + " ("
          + why
          + "); check that the namespace is held to restricted";
    }
    return "enforced: a pod that breaks the Pod Security Standard restricted is refused in"
        + " namespace "
        + objects.namespace()
        + " ("
        + why
        + ")";
  }

  /** One probe pod: created, awaited, its program run (trying {@code tried}), deleted. */
  private Attempt attempt(boolean userNamespace, Map<String, String> tried) {
    String name = "kcr-probe-" + RandomHex.of(5);
    String token = RandomHex.of(24);
    SandboxIsolation.PodIdentity identity = isolation.next(userNamespace);
    boolean dropped = false;
    track.accept(name);
    try {
      V1Pod created = objects.createPod(specs.probePod(name, token, identity));
      dropped = userNamespace && created.getSpec().getHostUsers() == null;
      PodWatcher.Ready ready = watcher.awaitReady(name, startTimeout);
      RunnerClient client =
          new RunnerClient(
              http, URI.create("http://" + ready.ip() + ":" + PodSpecs.RUNNER_PORT), token);
      String code = program(tried);
      RunnerResult r =
          client.execute(
              new RunnerRequest("py", code, 30_000, List.of(), null, false),
              Duration.ofSeconds(40));
      if (r.exitCode() != 0) {
        return new Attempt(null, null, "the probe program failed: " + r.stderr(), dropped);
      }
      return new Attempt(
          Json.tree(r.stdout().trim().getBytes(StandardCharsets.UTF_8)),
          ready.node(),
          null,
          dropped);
    } catch (ApiException e) {
      return new Attempt(null, null, "cannot create it: " + SandboxObjects.reason(e), dropped);
    } catch (SandboxException | IOException | RuntimeException e) {
      return new Attempt(null, null, e.getMessage(), dropped);
    } finally {
      objects.deletePod(name); // also when interrupted: the API stopping
      untrack.accept(name);
      isolation.release(identity);
    }
  }
}
