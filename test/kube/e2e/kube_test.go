package e2e

import (
	"context"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The API server is ready, authorizes with RBAC (a service account may not list pods), the
// controller-manager runs (it made the namespace's default service account) and the node is Ready.
func TestControlPlane(t *testing.T) {
	ctx := context.Background()
	body, err := client.CoreV1().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil || string(body) != "ok" {
		t.Fatalf("/readyz: %q %v", body, err)
	}
	ns := namespace(t)

	sa := rest.CopyConfig(restConfig)
	sa.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":default"}
	saClient := kubernetes.NewForConfigOrDie(sa)
	_, err = saClient.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("a service account without roles listed pods: want Forbidden (RBAC), got %v", err)
	}

	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes: %v %v", nodes, err)
	}
	for _, c := range nodes.Items[0].Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status != corev1.ConditionTrue {
			t.Fatalf("node not ready: %+v", c)
		}
	}
}

// A hardened sandbox pod becomes Running and Ready on a loopback podIP where the runner answers
// /health and runs code; deleting the pod kills the runner and removes the pod.
func TestSandboxPod(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	// The optional runtimeClass of §2 must exist for the API to admit the pod; the kubelet ignores it.
	rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: ns + "-gvisor"}, Handler: "runsc"}
	if _, err := client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.NodeV1().RuntimeClasses().Delete(context.Background(), rc.Name, metav1.DeleteOptions{}) })

	token := randomHex(16)
	spec := sandboxPodSpec(tokenValue(token))
	spec.RuntimeClassName = &rc.Name
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-py", Labels: map[string]string{"app": "kcr-sandbox"}}, Spec: spec}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod = waitReady(t, ns, pod.Name)
	ip := pod.Status.PodIP
	t.Logf("pod %s ready on %s", pod.Name, ip)
	if code, err := health(ip); err != nil || code != 200 {
		t.Fatalf("GET /health on the podIP: %d %v", code, err)
	}
	expectPrint1(t, ip, token)
	// runAsUser is enforced: the runner and the code it runs are uid 65532, not root.
	if out := execute(t, ip, token, "import os; print(os.getuid(), os.getgid())"); out["stdout"] != "65532 65532\n" {
		t.Fatalf("user code ran as %v, want uid/gid 65532", out)
	}

	pid := runnerPID(t, pod)
	if !processAlive(pid, ip) {
		t.Fatalf("runner pid %d not found", pid)
	}
	if err := client.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, pod.Name, 30*time.Second)
	if processAlive(pid, ip) {
		t.Fatalf("runner pid %d still alive after its pod was deleted", pid)
	}
	if _, err := health(ip); err == nil {
		t.Fatalf("something still answers on %s after the pod was deleted", ip)
	}
}

// A Job's pod (created by the controller-manager's Job controller) runs the runner with its token
// from a Secret; when the runner exits 0 the Job completes; deleting the Job collects the pod.
func TestJob(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	token := randomHex(16)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "runner-token"}, StringData: map[string]string{"token": token}}
	if _, err := client.CoreV1().Secrets(ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tokenEnv := corev1.EnvVar{Name: "RUNNER_TOKEN", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: secret.Name}, Key: "token",
	}}}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "exec-once"},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr(int32(0)),
			Template:     corev1.PodTemplateSpec{Spec: sandboxPodSpec(tokenEnv)},
		},
	}
	if _, err := client.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	var podName string
	poll(t, "the Job's pod", 30*time.Second, func() (bool, error) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "batch.kubernetes.io/job-name=" + job.Name})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		podName = pods.Items[0].Name
		return true, nil
	})
	pod := waitReady(t, ns, podName)
	expectPrint1(t, pod.Status.PodIP, token)

	// The runner exits 0 on SIGTERM: the pod Succeeds and the Job controller sees it.
	pid := runnerPID(t, pod)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	poll(t, "Job complete", 30*time.Second, func() (bool, error) {
		j, err := client.BatchV1().Jobs(ns).Get(ctx, job.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				t.Fatalf("Job failed: %s", c.Message)
			}
			if c.Type == batchv1.JobComplete && c.Status == corev1.ConditionTrue {
				return j.Status.Succeeded == 1, nil
			}
		}
		return false, nil
	})

	background := metav1.DeletePropagationBackground
	if err := client.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, podName, 60*time.Second)
}

// A sandbox pod owned (ownerReference) by a stand-in for the API pod is garbage-collected by the
// controller-manager when its owner is deleted, and its runner process dies with it.
func TestOwnerGarbageCollection(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	token := randomHex(16)
	owner := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "api"}, Spec: sandboxPodSpec(tokenValue(token))}
	owner, err := client.CoreV1().Pods(ns).Create(ctx, owner, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dependent := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "sandbox-owned", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Pod", Name: owner.Name, UID: owner.UID,
		}}},
		Spec: sandboxPodSpec(tokenValue(token)),
	}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, dependent, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dependent = waitReady(t, ns, dependent.Name)
	ip, pid := dependent.Status.PodIP, runnerPID(t, dependent)
	expectPrint1(t, ip, token)

	if err := client.CoreV1().Pods(ns).Delete(ctx, owner.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGone(t, ns, owner.Name, 30*time.Second)
	waitGone(t, ns, dependent.Name, 60*time.Second)
	if processAlive(pid, ip) {
		t.Fatalf("the collected pod's runner (pid %d) is still alive", pid)
	}
}

// activeDeadlineSeconds is enforced: the runner is killed and the pod fails with DeadlineExceeded,
// the safety net behind the API's own timeouts.
func TestActiveDeadline(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	spec := sandboxPodSpec(tokenValue(randomHex(16)))
	spec.ActiveDeadlineSeconds = ptr(int64(2))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "short-lived"}, Spec: spec}
	if _, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod = waitReady(t, ns, pod.Name)
	ip, pid := pod.Status.PodIP, runnerPID(t, pod)
	poll(t, "DeadlineExceeded", 30*time.Second, func() (bool, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodFailed && p.Status.Reason == "DeadlineExceeded", err
	})
	if processAlive(pid, ip) {
		t.Fatalf("runner pid %d alive past the deadline", pid)
	}
}
