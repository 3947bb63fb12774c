package kubelet

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var metaCreate = metav1.CreateOptions{}

// pod is one pod this kubelet runs: a runner (or image command) process on its own loopback address.
type pod struct {
	spec     *corev1.Pod // the pod as first seen; its spec does not change
	stop     chan struct{}
	stopOnce sync.Once

	ip      string
	dir     string
	proc    *process
	started metav1.Time
	image   *image      // the unpacked image it runs in, nil for a host process
	userns  int         // first host id of its user namespace, 0 for none
	cgroups *podCgroups // nil for none
}

func newPod(p *corev1.Pod) *pod {
	return &pod{spec: p.DeepCopy(), stop: make(chan struct{})}
}

// requestStop asks runPod to kill the process and clean up (the pod is being deleted).
func (p *pod) requestStop() { p.stopOnce.Do(func() { close(p.stop) }) }

func (p *pod) name() string { return p.spec.Namespace + "/" + p.spec.Name }

// runPod is the whole life of one pod: start, readiness, exit or deadline, and deletion.
func (k *Kubelet) runPod(ctx context.Context, p *pod) {
	defer k.cleanup(ctx, p)
	p.started = metav1.Now()
	if err := k.startPod(ctx, p); err != nil {
		log.Printf("kubelet: pod %s failed to start: %v", p.name(), err)
		k.patchStatus(ctx, p, failedToStart(p, err))
		k.waitStop(ctx, p)
		return
	}
	k.patchStatus(ctx, p, running(p, false))
	log.Printf("kubelet: pod %s started, pid %d on %s", p.name(), p.proc.cmd.Process.Pid, p.ip)

	var deadline <-chan time.Time
	if s := p.spec.Spec.ActiveDeadlineSeconds; s != nil {
		deadline = time.After(time.Until(p.started.Add(time.Duration(*s) * time.Second)))
	}
	ready := false
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if !ready && healthy(p.ip, containerPort(p.spec), readinessPath(p.spec)) {
				ready = true
				k.patchStatus(ctx, p, running(p, true))
			}
		case <-p.proc.exited:
			k.patchStatus(ctx, p, exited(p, p.proc.exitCode(), "", ""))
			k.waitStop(ctx, p)
			return
		case <-deadline:
			p.proc.kill(gracePeriod(p.spec))
			k.patchStatus(ctx, p, exited(p, p.proc.exitCode(), "DeadlineExceeded",
				"Pod was active on the node longer than the specified deadline"))
			k.waitStop(ctx, p)
			return
		case <-p.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// waitStop keeps a finished pod's directory and address until the pod is deleted, as a kubelet keeps
// a dead container until its pod goes.
func (k *Kubelet) waitStop(ctx context.Context, p *pod) {
	select {
	case <-p.stop:
	case <-ctx.Done():
	}
}

// startPod allocates the address and directories and starts the runner or image command.
func (k *Kubelet) startPod(ctx context.Context, p *pod) error {
	if len(p.spec.Spec.Containers) == 0 {
		return fmt.Errorf("pod has no containers")
	}
	port := containerPort(p.spec)
	ip, err := k.ips.alloc(port)
	if err != nil {
		return err
	}
	p.ip = ip
	p.dir = filepath.Join(k.cfg.PodDir, fmt.Sprintf("%s_%s_%s", p.spec.Namespace, p.spec.Name, p.spec.UID))
	cmd, starter, err := k.command(ctx, p, fmt.Sprintf("%s:%d", ip, port))
	if err != nil {
		return err
	}
	if starter == nil {
		p.proc, err = startProcess(cmd, filepath.Join(p.dir, "runner.log"))
		return err
	}
	// A container: into its cgroups before anything runs in it.
	if p.cgroups, err = k.newPodCgroups(p); err != nil {
		starter.Abort()
		return err
	}
	if p.proc, err = startProcess(cmd, filepath.Join(p.dir, "runner.log")); err != nil {
		starter.Abort()
		return err
	}
	if err := p.cgroups.add(cmd.Process.Pid); err != nil {
		starter.Abort()
		return err
	}
	return starter.Release()
}

// cleanup kills the process, removes the pod's directory, frees its address and, when the pod is
// being deleted gracefully, confirms the deletion (there is no other kubelet to do it).
func (k *Kubelet) cleanup(ctx context.Context, p *pod) {
	if p.proc != nil {
		p.proc.kill(gracePeriod(p.spec))
	}
	p.cgroups.remove()
	k.userns.free(p.userns)
	if p.dir != "" {
		if err := os.RemoveAll(p.dir); err != nil {
			log.Printf("kubelet: pod %s: %v", p.name(), err)
		}
	}
	if p.ip != "" {
		k.ips.free(p.ip)
	}
	k.mu.Lock()
	delete(k.pods, p.spec.UID)
	k.mu.Unlock()
	if ctx.Err() == nil {
		k.confirmDeletion(ctx, p.spec)
		log.Printf("kubelet: pod %s stopped and removed", p.name())
	}
}

// confirmDeletion finishes a graceful deletion: a delete with grace period 0, only for this very pod.
func (k *Kubelet) confirmDeletion(ctx context.Context, p *corev1.Pod) {
	zero := int64(0)
	opts := metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &p.UID}}
	err := k.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts)
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		log.Printf("kubelet: delete %s/%s: %v", p.Namespace, p.Name, err)
	}
}

// healthy reports whether the process answers GET path with a status from 200 to 399, the success
// of a kubelet's HTTP probe (redirects are not followed).
func healthy(ip string, port int32, path string) bool {
	c := http.Client{
		Timeout:       time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get(fmt.Sprintf("http://%s:%d%s", ip, port, path))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// readinessPath is the path of the container's HTTP readiness probe, else the runner's /health.
// The probe's port, scheme and timings are ignored: it is polled on the container port every 100 ms.
func readinessPath(p *corev1.Pod) string {
	rp := p.Spec.Containers[0].ReadinessProbe
	if rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path == "" {
		return "/health"
	}
	if !strings.HasPrefix(rp.HTTPGet.Path, "/") {
		return "/" + rp.HTTPGet.Path
	}
	return rp.HTTPGet.Path
}

// containerPort is the first declared port of the container, else the runner's default 8080.
func containerPort(p *corev1.Pod) int32 {
	for _, cp := range p.Spec.Containers[0].Ports {
		if cp.ContainerPort > 0 {
			return cp.ContainerPort
		}
	}
	return 8080
}

// gracePeriod is how long a deleted pod's process gets between SIGTERM and SIGKILL, capped so a
// test never waits 30 s for a runner that ignores SIGTERM.
func gracePeriod(p *corev1.Pod) time.Duration {
	s := int64(30)
	if p.Spec.TerminationGracePeriodSeconds != nil {
		s = *p.Spec.TerminationGracePeriodSeconds
	}
	return min(time.Duration(s)*time.Second, 5*time.Second)
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func podMeta(p *corev1.Pod) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID}
}
