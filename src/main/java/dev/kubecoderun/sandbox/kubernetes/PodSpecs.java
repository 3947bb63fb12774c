package dev.kubecoderun.sandbox.kubernetes;

import dev.kubecoderun.common.Sha256;
import dev.kubecoderun.config.Config;
import dev.kubecoderun.language.Language;
import dev.kubecoderun.sandbox.RunnerSettings;
import io.kubernetes.client.custom.IntOrString;
import io.kubernetes.client.custom.Quantity;
import io.kubernetes.client.openapi.models.V1Affinity;
import io.kubernetes.client.openapi.models.V1Capabilities;
import io.kubernetes.client.openapi.models.V1Container;
import io.kubernetes.client.openapi.models.V1ContainerPort;
import io.kubernetes.client.openapi.models.V1EmptyDirVolumeSource;
import io.kubernetes.client.openapi.models.V1EnvVar;
import io.kubernetes.client.openapi.models.V1HTTPGetAction;
import io.kubernetes.client.openapi.models.V1Job;
import io.kubernetes.client.openapi.models.V1JobSpec;
import io.kubernetes.client.openapi.models.V1LabelSelector;
import io.kubernetes.client.openapi.models.V1LocalObjectReference;
import io.kubernetes.client.openapi.models.V1ObjectMeta;
import io.kubernetes.client.openapi.models.V1OwnerReference;
import io.kubernetes.client.openapi.models.V1Pod;
import io.kubernetes.client.openapi.models.V1PodAffinityTerm;
import io.kubernetes.client.openapi.models.V1PodAntiAffinity;
import io.kubernetes.client.openapi.models.V1PodSecurityContext;
import io.kubernetes.client.openapi.models.V1PodSpec;
import io.kubernetes.client.openapi.models.V1PodTemplateSpec;
import io.kubernetes.client.openapi.models.V1Probe;
import io.kubernetes.client.openapi.models.V1ResourceRequirements;
import io.kubernetes.client.openapi.models.V1SeccompProfile;
import io.kubernetes.client.openapi.models.V1SecurityContext;
import io.kubernetes.client.openapi.models.V1Toleration;
import io.kubernetes.client.openapi.models.V1Volume;
import io.kubernetes.client.openapi.models.V1VolumeMount;
import io.kubernetes.client.openapi.models.V1WeightedPodAffinityTerm;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** Builds the hardened sandbox pod (decisions §2) and the Job that wraps one for a single run. */
final class PodSpecs {
  static final String MANAGED_BY = "app.kubernetes.io/managed-by";
  static final String LANGUAGE = "kubecoderun.io/language";
  static final String ROLE = "kubecoderun.io/role";
  static final String OWNER = "kubecoderun.io/owner";

  /** The sandbox name (pod name, or Job name for a Job's pod): what the watcher keys pods by. */
  static final String SANDBOX = "kubecoderun.io/sandbox";

  static final int RUNNER_PORT = 8080;

  /** The images' sandbox user, which pods run as inside their own user namespace. */
  static final long SANDBOX_UID = 65532;

  /**
   * The container's termination message file. The kubelet mounts it writable from the node's own
   * disk, where no ephemeral-storage limit counts it (kubernetes/kubernetes#122224): the runner
   * empties it after every step (RUNNER_TERMINATION_LOG), so what a run writes there (at most
   * RLIMIT_FSIZE) does not outlive the run in a pod that serves more runs.
   */
  static final String TERMINATION_LOG = "/dev/termination-log";

  /**
   * Each of /mnt/data and /tmp; Config.KUBERNETES_DATA_DIR_BYTES bounds one run's inputs, and its
   * outputs together, by it.
   */
  private static final String SCRATCH_SIZE = "1Gi";

  /** One node: what the anti-affinity to the API pods keeps sandboxes apart from. */
  static final String NODE_TOPOLOGY = "kubernetes.io/hostname";

  private final Config.Kubernetes k8s;
  private final RunnerSettings runner;

  PodSpecs(Config.Kubernetes k8s, RunnerSettings runner) {
    this.k8s = k8s;
    this.runner = runner;
  }

  /** The label selector of every sandbox object this API instance owns. */
  String selector() {
    return MANAGED_BY + "=kubecoderun," + OWNER + "=" + k8s.instanceId();
  }

  /** A pool pod: warm interpreter, the long pool deadline. */
  V1Pod poolPod(
      String name, Language language, String token, SandboxIsolation.PodIdentity identity) {
    return pod(
        name,
        language,
        "pool",
        podSpec(language, token, true, identity)
            .activeDeadlineSeconds(k8s.podActiveDeadline().toSeconds()));
  }

  /**
   * The start-up check's pod (IsolationProbe): a Python sandbox like any other, without a warm
   * interpreter, gone after a few minutes at most.
   */
  V1Pod probePod(String name, String token, SandboxIsolation.PodIdentity identity) {
    return pod(
        name,
        Language.PY,
        "probe",
        podSpec(Language.PY, token, false, identity).activeDeadlineSeconds(600L));
  }

  /**
   * A pod the Pod Security Standard "restricted" refuses (no securityContext at all: privilege
   * escalation allowed, capabilities kept, no seccomp profile, root allowed), only ever sent as a
   * dry run: whether the API server refuses it says whether the sandboxes' namespace is held to it.
   */
  V1Pod unhardenedPod(String name) {
    return new V1Pod()
        .apiVersion("v1")
        .kind("Pod")
        .metadata(new V1ObjectMeta().name(name).labels(labels(name, Language.PY, "pss-check")))
        .spec(
            new V1PodSpec()
                .overhead(null)
                .restartPolicy("Never")
                .automountServiceAccountToken(false)
                .containers(
                    List.of(
                        new V1Container()
                            .name("runner")
                            .image(k8s.images().get(Language.PY))
                            .imagePullPolicy(k8s.imagePullPolicy()))));
  }

  /** A bare sandbox pod (no Job): labelled for {@code role}, owned by the API pod. */
  private V1Pod pod(String name, Language language, String role, V1PodSpec spec) {
    return new V1Pod()
        .apiVersion("v1")
        .kind("Pod")
        .metadata(
            new V1ObjectMeta()
                .name(name)
                .labels(labels(name, language, role))
                .ownerReferences(ownerReferences()))
        .spec(spec);
  }

  /** A Job of one pod for one run: no retry, the Job deadline, collected after its TTL. */
  V1Job job(String name, Language language, String token, SandboxIsolation.PodIdentity identity) {
    long deadline = k8s.jobDeadline().toSeconds();
    return new V1Job()
        .apiVersion("batch/v1")
        .kind("Job")
        .metadata(
            new V1ObjectMeta()
                .name(name)
                .labels(labels(name, language, "job"))
                .ownerReferences(ownerReferences()))
        .spec(
            new V1JobSpec()
                .backoffLimit(0)
                .activeDeadlineSeconds(deadline)
                .ttlSecondsAfterFinished((int) k8s.jobTtl().toSeconds())
                .template(
                    new V1PodTemplateSpec()
                        .metadata(new V1ObjectMeta().labels(labels(name, language, "job")))
                        .spec(
                            podSpec(language, token, false, identity)
                                .activeDeadlineSeconds(deadline))));
  }

  private Map<String, String> labels(String name, Language language, String role) {
    Map<String, String> labels = new LinkedHashMap<>();
    labels.put(MANAGED_BY, "kubecoderun");
    labels.put(LANGUAGE, language.code());
    labels.put(ROLE, role);
    labels.put(OWNER, k8s.instanceId());
    labels.put(SANDBOX, name);
    return labels;
  }

  /**
   * The API pod owns its sandboxes, so the garbage collector removes them if it dies; not across
   * namespaces (the collector would take the owner for missing and delete them at once): owner
   * Leases stand in there (OwnerLeases).
   */
  private List<V1OwnerReference> ownerReferences() {
    if (k8s.ownerPodName() == null || k8s.ownerPodUid() == null || k8s.sandboxesElsewhere()) {
      return null;
    }
    return List.of(
        new V1OwnerReference()
            .apiVersion("v1")
            .kind("Pod")
            .name(k8s.ownerPodName())
            .uid(k8s.ownerPodUid()));
  }

  /**
   * The hardened sandbox pod. {@code identity}: its uid/gid (pod and container level, and fsGroup)
   * and, with user namespaces, {@code hostUsers: false} (see SandboxIsolation).
   */
  private V1PodSpec podSpec(
      Language language, String token, boolean warm, SandboxIsolation.PodIdentity identity) {
    long uid = identity.uid();
    List<V1EnvVar> env = new ArrayList<>();
    // Extra variables first: the runner's own settings below must win over them.
    k8s.podEnv().forEach((k, v) -> env.add(new V1EnvVar().name(k).value(v)));
    // Only the token's hash: whoever reads the pod spec (an audit log, kubectl describe, anyone who
    // may get pods in the namespace) cannot authenticate with it.
    env.add(new V1EnvVar().name("RUNNER_TOKEN_SHA256").value(Sha256.hex(token)));
    env.add(
        new V1EnvVar().name("RUNNER_WARM").value(warm && language.warm() ? language.code() : ""));
    // A sandbox pod serves one execution (its runner must not warm a second interpreter), or with
    // K8S_POD_REUSE=session the runs of one session, reset between them.
    env.add(
        new V1EnvVar()
            .name("RUNNER_SINGLE_USE")
            .value(Boolean.toString(k8s.podReuse() == Config.PodReuse.NONE)));
    runner.environment().forEach((k, v) -> env.add(new V1EnvVar().name(k).value(v)));
    env.add(new V1EnvVar().name("RUNNER_WORKDIR").value("/mnt/data"));
    env.add(new V1EnvVar().name("RUNNER_SCRATCH").value("/tmp/kcr"));
    env.add(new V1EnvVar().name("RUNNER_TERMINATION_LOG").value(TERMINATION_LOG));

    V1Container container =
        new V1Container()
            .name("runner")
            .image(k8s.images().get(language))
            .imagePullPolicy(k8s.imagePullPolicy())
            .terminationMessagePath(TERMINATION_LOG)
            .ports(List.of(new V1ContainerPort().name("http").containerPort(RUNNER_PORT)))
            .env(env)
            .readinessProbe(
                new V1Probe()
                    .httpGet(
                        new V1HTTPGetAction().path("/health").port(new IntOrString(RUNNER_PORT)))
                    .periodSeconds(1)
                    // Ready at its first answer (a start waits for that); not Ready only after 10 s
                    // without one: a run holding the pod's CPU may starve /health for a few
                    // seconds, and a pod no longer Ready is handed to no run (PodWatcher.serving).
                    .timeoutSeconds(2)
                    .failureThreshold(10))
            .resources(
                new V1ResourceRequirements()
                    .requests(
                        Map.of(
                            "cpu", Quantity.fromString(k8s.cpuRequest()),
                            "memory", Quantity.fromString(k8s.memoryRequest()),
                            "ephemeral-storage", Quantity.fromString(k8s.ephemeralStorageLimit())))
                    .limits(
                        Map.of(
                            "cpu", Quantity.fromString(k8s.cpuLimits().get(language)),
                            "memory", Quantity.fromString(k8s.memoryLimits().get(language)),
                            "ephemeral-storage", Quantity.fromString(k8s.ephemeralStorageLimit()))))
            .securityContext(
                new V1SecurityContext()
                    .runAsUser(uid)
                    .runAsGroup(uid)
                    .runAsNonRoot(true)
                    .allowPrivilegeEscalation(false)
                    .readOnlyRootFilesystem(true)
                    .privileged(false)
                    .capabilities(new V1Capabilities().drop(List.of("ALL"))))
            .volumeMounts(
                List.of(
                    new V1VolumeMount().name("data").mountPath("/mnt/data"),
                    new V1VolumeMount().name("tmp").mountPath("/tmp")));

    V1PodSpec spec =
        new V1PodSpec()
            // The generated model starts every map empty, and an empty "overhead" is refused
            // ("Pod Overhead set without corresponding RuntimeClass"): send none.
            .overhead(null)
            .containers(List.of(container))
            .restartPolicy("Never")
            .hostname("sandbox")
            .automountServiceAccountToken(false)
            .enableServiceLinks(false)
            .terminationGracePeriodSeconds(5L)
            .hostUsers(identity.hostUsers())
            .securityContext(
                new V1PodSecurityContext()
                    .runAsUser(uid)
                    .runAsGroup(uid)
                    .fsGroup(uid)
                    .runAsNonRoot(true)
                    .seccompProfile(new V1SeccompProfile().type(k8s.seccompProfileType())))
            .volumes(
                List.of(
                    new V1Volume().name("data").emptyDir(scratch()),
                    new V1Volume().name("tmp").emptyDir(scratch())));
    if (!k8s.runtimeClassName().isEmpty()) {
      spec.runtimeClassName(k8s.runtimeClassName());
    }
    spec.affinity(apiAntiAffinity());
    if (!k8s.nodeSelector().isEmpty()) {
      spec.nodeSelector(k8s.nodeSelector());
    }
    if (!k8s.tolerations().isEmpty()) {
      spec.tolerations(k8s.tolerations().stream().map(PodSpecs::toleration).toList());
    }
    if (!k8s.imagePullSecrets().isEmpty()) {
      spec.imagePullSecrets(
          k8s.imagePullSecrets().stream().map(n -> new V1LocalObjectReference().name(n)).toList());
    }
    return spec;
  }

  /**
   * An emptyDir of {@link #SCRATCH_SIZE}. On the node's disk (the default), the kubelet measures it
   * every few seconds and evicts a pod over its size: a run writing fast gets ahead of that, and
   * its files use the node filesystem's inodes. In memory (K8S_SCRATCH_MEDIUM=memory), a tmpfs of
   * that size with inodes of its own, refused past it at once, charged to the pod's memory limit.
   */
  private V1EmptyDirVolumeSource scratch() {
    V1EmptyDirVolumeSource dir =
        new V1EmptyDirVolumeSource().sizeLimit(Quantity.fromString(SCRATCH_SIZE));
    return k8s.scratchMedium() == Config.ScratchMedium.MEMORY ? dir.medium("Memory") : dir;
  }

  /**
   * Keeps sandbox pods off the nodes of the API pods (K8S_SANDBOX_API_ANTI_AFFINITY), which hold
   * what a sandbox escaping to its node must not find: the API's service account token, keys and
   * store credentials. The API pods are those labelled K8S_API_POD_LABELS in the API pod's
   * namespace (POD_NAMESPACE; unknown: the sandboxes' own). Null (none) when off or without those
   * labels: an empty selector would keep sandboxes off every node with any pod of that namespace.
   */
  V1Affinity apiAntiAffinity() {
    Config.Isolation isolation = k8s.isolation();
    if (isolation.apiAntiAffinity() == Config.ApiAntiAffinity.OFF
        || isolation.apiPodLabels().isEmpty()) {
      return null;
    }
    V1PodAffinityTerm term =
        new V1PodAffinityTerm()
            .topologyKey(NODE_TOPOLOGY)
            .labelSelector(
                new V1LabelSelector().matchLabels(new TreeMap<>(isolation.apiPodLabels())));
    if (k8s.ownerNamespace() != null) {
      term.namespaces(List.of(k8s.ownerNamespace()));
    }
    V1PodAntiAffinity anti = new V1PodAntiAffinity();
    if (isolation.apiAntiAffinity() == Config.ApiAntiAffinity.REQUIRED) {
      anti.requiredDuringSchedulingIgnoredDuringExecution(List.of(term));
    } else {
      anti.preferredDuringSchedulingIgnoredDuringExecution(
          List.of(new V1WeightedPodAffinityTerm().weight(100).podAffinityTerm(term)));
    }
    return new V1Affinity().podAntiAffinity(anti);
  }

  /** A toleration from its JSON form (camelCase keys, as in a manifest). */
  private static V1Toleration toleration(Map<String, Object> t) {
    V1Toleration out = new V1Toleration();
    if (t.get("key") != null) {
      out.key(t.get("key").toString());
    }
    if (t.get("operator") != null) {
      out.operator(t.get("operator").toString());
    }
    if (t.get("value") != null) {
      out.value(t.get("value").toString());
    }
    if (t.get("effect") != null) {
      out.effect(t.get("effect").toString());
    }
    if (t.get("tolerationSeconds") instanceof Number n) {
      out.tolerationSeconds(n.longValue());
    }
    return out;
  }
}
