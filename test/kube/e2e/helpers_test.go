package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
)

const runnerPort = 8080

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// namespace creates a namespace that enforces the "restricted" Pod Security Standard, so every pod
// the tests create must be as hardened as decisions §2 asks, and waits for its default service
// account (the controller-manager creates it; the ServiceAccount admission needs it for pods).
func namespace(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		GenerateName: "kcr-e2e-",
		Labels:       map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}
	ns, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	poll(t, "default service account", 30*time.Second, func() (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, ignoreNotFound(err)
	})
	return ns.Name
}

// sandboxPodSpec is the hardened sandbox pod of decisions §2. The test kubelet enforces the user,
// the deadline and deletion; the API server validates and admits all of it.
func sandboxPodSpec(tokenEnv corev1.EnvVar) corev1.PodSpec {
	uid, yes, no := int64(65532), true, false
	deadline, grace := int64(600), int64(2)
	runtimeDefault := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	q := resource.MustParse
	return corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		AutomountServiceAccountToken:  &no,
		EnableServiceLinks:            &no,
		Hostname:                      "sandbox",
		ActiveDeadlineSeconds:         &deadline,
		TerminationGracePeriodSeconds: &grace,
		NodeSelector:                  map[string]string{"kubernetes.io/os": "linux"},
		Tolerations: []corev1.Toleration{
			{Key: "kubecoderun.io/sandbox", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry-credentials"}},
		SecurityContext: &corev1.PodSecurityContext{
			RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid, RunAsNonRoot: &yes, SeccompProfile: runtimeDefault,
		},
		Containers: []corev1.Container{{
			Name:            "runner",
			Image:           "kubecoderun/runner:test",
			ImagePullPolicy: corev1.PullIfNotPresent,
			Args:            []string{"--listen", "0.0.0.0:8080", "--workdir", "/mnt/data", "--scratch", "/tmp/kcr", "--warm", "py"},
			Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: runnerPort}},
			Env:             []corev1.EnvVar{tokenEnv},
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot:             &yes,
				AllowPrivilegeEscalation: &no,
				ReadOnlyRootFilesystem:   &yes,
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           runtimeDefault,
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{"cpu": q("100m"), "memory": q("128Mi"), "ephemeral-storage": q("100Mi")},
				Limits:   corev1.ResourceList{"cpu": q("1"), "memory": q("512Mi"), "ephemeral-storage": q("1Gi")},
			},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
				HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(runnerPort)},
			}},
			VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/mnt/data"}, {Name: "tmp", MountPath: "/tmp"}},
		}},
		Volumes: []corev1.Volume{
			{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(q("1Gi"))}}},
			{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(q("256Mi"))}}},
		},
	}
}

func tokenValue(token string) corev1.EnvVar { return corev1.EnvVar{Name: "RUNNER_TOKEN", Value: token} }

// waitReady waits for the pod to be Running and Ready with a podIP, and returns it.
func waitReady(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	poll(t, "pod "+name+" ready", 60*time.Second, func() (bool, error) {
		var err error
		pod, err = client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, ignoreNotFound(err)
		}
		if pod.Status.Phase == corev1.PodFailed {
			return false, fmt.Errorf("pod failed: %s %s", pod.Status.Reason, pod.Status.Message)
		}
		return pod.Status.Phase == corev1.PodRunning && pod.Status.PodIP != "" && isReady(pod), nil
	})
	return pod
}

func isReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitGone waits until the pod is no longer in the API.
func waitGone(t *testing.T, ns, name string, timeout time.Duration) {
	t.Helper()
	poll(t, "pod "+name+" gone", timeout, func() (bool, error) {
		_, err := client.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		return false, err
	})
}

// runnerPID is the runner's process id, which the test kubelet reports as "kcr-test://PID".
func runnerPID(t *testing.T, pod *corev1.Pod) int {
	t.Helper()
	if len(pod.Status.ContainerStatuses) == 0 {
		t.Fatal("no container status")
	}
	id := pod.Status.ContainerStatuses[0].ContainerID
	pid, err := strconv.Atoi(strings.TrimPrefix(id, "kcr-test://"))
	if err != nil {
		t.Fatalf("container id %q: %v", id, err)
	}
	return pid
}

// processAlive reports whether pid is still the runner listening on ip (pids may be reused).
func processAlive(pid int, ip string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && bytes.Contains(b, []byte(ip+":"))
}

// health is the status code of the runner's GET /health, or an error when nothing answers.
func health(ip string) (int, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d/health", ip, runnerPort))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// execute runs Python code through the runner's POST /execute and returns the decoded answer.
func execute(t *testing.T, ip, token, code string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"language": "py", "code": code, "timeout_ms": 30000})
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s:%d/execute", ip, runnerPort), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("execute: %d %v", resp.StatusCode, out)
	}
	return out
}

// expectPrint1 checks a `print(1)` run on the pod's runner.
func expectPrint1(t *testing.T, ip, token string) {
	t.Helper()
	out := execute(t, ip, token, "print(1)")
	if out["stdout"] != "1\n" || out["exit_code"] != float64(0) {
		t.Fatalf("print(1) on %s: %v", ip, out)
	}
}

func poll(t *testing.T, what string, timeout time.Duration, cond func() (bool, error)) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true,
		func(context.Context) (bool, error) { return cond() })
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func ptr[T any](v T) *T { return &v }
