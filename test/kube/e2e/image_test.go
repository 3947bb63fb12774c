package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// imageScript stands in for an image: it takes the kubelet's --listen and --workdir, writes what it was
// given (env, args, uid, the service-account files it can read) into a dir and serves that dir,
// where ready.txt is its readiness probe path (GET /health is a 404 there).
const imageScript = `#!/bin/sh
set -e
all="$*"
while [ $# -gt 0 ]; do
  case "$1" in
    --listen) listen="$2"; shift 2 ;;
    --workdir) work="$2"; shift 2 ;;
    *) shift ;;
  esac
done
www="$work/www"
mkdir -p "$www"
env > "$www/env.txt"
echo "$all" > "$www/args.txt"
id -u > "$www/uid.txt"
sa="${KUBECONFIG%/*}"
for f in kubeconfig token ca.crt namespace; do cat "$sa/$f" > "$www/sa-$f"; done
echo ok > "$www/ready.txt"
exec python3 -m http.server --bind "${listen%:*}" --directory "$www" "${listen##*:}"
`

const appPort = 8000

// imageCommand installs script as the command of a fresh image name in the kubelet's image-commands
// dir and returns the image (with a tag, which the lookup drops).
func imageCommand(t *testing.T, script string) string {
	t.Helper()
	if fi, err := os.Stat(imagesDir); err != nil || !fi.IsDir() {
		t.Skipf("no image-commands dir %s (a cluster from an older scripts/kube-up?): %v", imagesDir, err)
	}
	repo := "registry.test:5000/kcr-e2e/app-" + randomHex(4)
	path := filepath.Join(imagesDir, strings.ReplaceAll(repo, "/", "_"))
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return repo + ":1.0"
}

// appPodSpec is a hardened ("restricted") pod of the given image, like the chart's API Deployment.
func appPodSpec(image string) corev1.PodSpec {
	uid, yes, no := int64(65532), true, false
	runtimeDefault := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	return corev1.PodSpec{
		EnableServiceLinks:            &no,
		TerminationGracePeriodSeconds: ptr(int64(2)),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &uid, RunAsNonRoot: &yes, SeccompProfile: runtimeDefault,
		},
		Containers: []corev1.Container{{
			Name:  "api",
			Image: image,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: appPort}},
			SecurityContext: &corev1.SecurityContext{
				RunAsNonRoot:             &yes,
				AllowPrivilegeEscalation: &no,
				ReadOnlyRootFilesystem:   &yes,
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				SeccompProfile:           runtimeDefault,
			},
		}},
	}
}

// get is the status and body of GET http://ip:appPort/path.
func get(t *testing.T, ip, path string) (int, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://%s:%d%s", ip, appPort, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func parseEnv(s string) map[string]string {
	env := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			env[k] = v
		}
	}
	return env
}

// A pod whose image has an executable in the image-commands dir runs that instead of the runner (as
// the pod's user, with the runner's flags), gets its environment from envFrom then env, becomes Ready
// through its readinessProbe path, and reads a kubeconfig with a token of its service account bound
// to the pod: the way the chart's API pod runs in the test cluster.
func TestImageCommandPod(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	image := imageCommand(t, imageScript)

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
		Data: map[string]string{"GREETING": "hello", "OVERRIDDEN": "from-configmap"}}
	if _, err := client.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-secret"},
		StringData: map[string]string{"PASSWORD": "hunter2"}}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}
	if _, err := client.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	spec := appPodSpec(image)
	spec.ServiceAccountName = sa.Name
	spec.AutomountServiceAccountToken = ptr(true)
	c := &spec.Containers[0]
	c.Command = []string{"/app/entrypoint", "--mode"}
	c.Args = []string{"test"}
	c.EnvFrom = []corev1.EnvFromSource{
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}},
		{Prefix: "SECRET_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret.Name}}},
		{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr(true)}},
	}
	c.Env = []corev1.EnvVar{
		{Name: "OVERRIDDEN", Value: "from-env"},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/ready.txt", Port: intstr.FromString("http")},
	}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: spec}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod = waitReady(t, ns, pod.Name)
	ip := pod.Status.PodIP

	// Ready came from the probe path: the script has no /health.
	if code, _ := get(t, ip, "/health"); code != http.StatusNotFound {
		t.Fatalf("GET /health on the image command: %d, want 404", code)
	}
	if _, uid := get(t, ip, "/uid.txt"); uid != "65532\n" {
		t.Fatalf("image command ran as uid %q, want 65532", uid)
	}
	if _, args := get(t, ip, "/args.txt"); !strings.HasPrefix(args, "--mode test --listen "+ip+":8000 --workdir ") {
		t.Fatalf("args: %q", args)
	}
	_, body := get(t, ip, "/env.txt")
	env := parseEnv(body)
	for k, want := range map[string]string{
		"GREETING": "hello", "OVERRIDDEN": "from-env", "SECRET_PASSWORD": "hunter2", "POD_NAME": pod.Name,
	} {
		if env[k] != want {
			t.Errorf("env %s = %q, want %q", k, env[k], want)
		}
	}
	if _, ok := env["PASSWORD"]; ok {
		t.Errorf("secret key without its prefix in the env")
	}
	if !strings.HasSuffix(env["KUBECONFIG"], "/serviceaccount/kubeconfig") {
		t.Errorf("KUBECONFIG = %q", env["KUBECONFIG"])
	}
	if t.Failed() {
		t.Fatalf("env:\n%s", body)
	}

	// The kubeconfig the process read: the same API server and CA, the pod's namespace, and a token of
	// its service account bound to the pod.
	_, kc := get(t, ip, "/sa-kubeconfig")
	cc, err := clientcmd.NewClientConfigFromBytes([]byte(kc))
	if err != nil {
		t.Fatal(err)
	}
	if kns, _, err := cc.Namespace(); err != nil || kns != ns {
		t.Fatalf("kubeconfig namespace %q %v, want %s", kns, err, ns)
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, f := get(t, ip, "/sa-namespace"); f != ns {
		t.Fatalf("serviceaccount/namespace %q", f)
	}
	if _, f := get(t, ip, "/sa-token"); f == "" || f != rc.BearerToken {
		t.Fatalf("serviceaccount/token is not the kubeconfig's token")
	}
	if _, f := get(t, ip, "/sa-ca.crt"); f != string(restConfig.CAData) || f != string(rc.CAData) {
		t.Fatalf("serviceaccount/ca.crt is not the API server's CA")
	}
	if rc.Host != restConfig.Host {
		t.Fatalf("kubeconfig server %s, want %s", rc.Host, restConfig.Host)
	}
	podClient := kubernetes.NewForConfigOrDie(rc)
	user := "system:serviceaccount:" + ns + ":" + sa.Name
	review, err := podClient.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := review.Status.UserInfo.Username; got != user {
		t.Fatalf("the pod's token authenticates as %q, want %q", got, user)
	}
	if got := review.Status.UserInfo.Extra["authentication.kubernetes.io/pod-name"]; len(got) != 1 || got[0] != pod.Name {
		t.Fatalf("the token is not bound to the pod: extra %v", review.Status.UserInfo.Extra)
	}
	_, err = podClient.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), user) {
		t.Fatalf("listing secrets with the pod's token: want Forbidden for %s, got %v", user, err)
	}

	// Deletion stops the process. (The bound token dies with the pod too, but the API server caches a
	// token's authentication for 10 s: the pod-name above shows the binding, faster.)
	pid := runnerPID(t, pod)
	if err := client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, pod.Name, 30*time.Second)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && bytes.Contains(b, []byte(ip)) {
		t.Fatalf("image command pid %d still alive after its pod was deleted", pid)
	}
}

// envFrom works for runner pods too (their token from a Secret's keys), which get no service-account
// credentials even when automounting; a missing required envFrom source fails the pod start.
func TestEnvFromRunnerPod(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	token := randomHex(16)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "runner-env"}, StringData: map[string]string{"TOKEN": token}}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	spec := sandboxPodSpec(corev1.EnvVar{Name: "FROM_ENV", Value: "1"})
	spec.AutomountServiceAccountToken = ptr(true)
	spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{
		Prefix: "RUNNER_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: secret.Name}},
	}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "runner-envfrom"}, Spec: spec}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	broken := sandboxPodSpec(tokenValue(token))
	broken.Containers[0].EnvFrom = []corev1.EnvFromSource{{
		ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}},
	}}
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "missing-envfrom"}, Spec: broken}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	pod = waitReady(t, ns, pod.Name)
	expectPrint1(t, pod.Status.PodIP, token)
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", runnerPID(t, pod)))
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.Split(string(environ), "\x00")
	for _, want := range []string{"RUNNER_TOKEN=" + token, "FROM_ENV=1"} {
		if !slices.Contains(vars, want) {
			t.Errorf("runner env lacks %s", strings.SplitN(want, "=", 2)[0])
		}
	}
	for _, v := range vars {
		if strings.HasPrefix(v, "KUBECONFIG=") {
			t.Errorf("a runner pod got service-account credentials: %s", v)
		}
	}

	poll(t, "pod "+bad.Name+" failed", 30*time.Second, func() (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, bad.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.Status.Phase == corev1.PodFailed {
			if p.Status.Reason != "StartError" || !strings.Contains(p.Status.Message, `configmap "absent" not found`) {
				return false, fmt.Errorf("failed with %s: %s", p.Status.Reason, p.Status.Message)
			}
			return true, nil
		}
		return false, nil
	})
}
