package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// patchStatus replaces the pod's status (a JSON merge patch replaces lists whole: this kubelet owns
// conditions and container statuses).
func (k *Kubelet) patchStatus(ctx context.Context, p *pod, st corev1.PodStatus) {
	body, err := json.Marshal(map[string]any{"status": st})
	if err != nil {
		panic(err)
	}
	_, err = k.client.CoreV1().Pods(p.spec.Namespace).Patch(ctx, p.spec.Name, types.MergePatchType, body,
		metav1.PatchOptions{}, "status")
	if err != nil && ctx.Err() == nil {
		log.Printf("kubelet: status of %s: %v", p.name(), err)
	}
}

// running is the status of a started pod, ready once the runner answered /health.
func running(p *pod, ready bool) corev1.PodStatus {
	st := base(p, corev1.PodRunning, ready, "")
	st.ContainerStatuses = []corev1.ContainerStatus{containerStatus(p, ready,
		corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: p.started}})}
	return st
}

// exited is the final status after the runner exited or was killed at the deadline.
func exited(p *pod, code int32, reason, msg string) corev1.PodStatus {
	phase, creason := corev1.PodSucceeded, "Completed"
	if code != 0 || reason != "" {
		phase, creason = corev1.PodFailed, "Error"
	}
	st := base(p, phase, false, "PodCompleted")
	st.Reason, st.Message = reason, msg
	now := metav1.Now()
	st.ContainerStatuses = []corev1.ContainerStatus{containerStatus(p, false, corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{
			ExitCode: code, Reason: creason, StartedAt: p.started, FinishedAt: now,
			ContainerID: containerID(p),
		}})}
	return st
}

// failedToStart is the final status of a pod whose runner could not be started.
func failedToStart(p *pod, err error) corev1.PodStatus {
	st := base(p, corev1.PodFailed, false, "PodCompleted")
	st.Reason, st.Message = "StartError", err.Error()
	now := metav1.Now()
	st.ContainerStatuses = []corev1.ContainerStatus{containerStatus(p, false, corev1.ContainerState{
		Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: err.Error(), FinishedAt: now,
		}})}
	return st
}

func base(p *pod, phase corev1.PodPhase, ready bool, notReadyReason string) corev1.PodStatus {
	start := p.started
	st := corev1.PodStatus{
		Phase:     phase,
		HostIP:    "127.0.0.1",
		HostIPs:   []corev1.HostIP{{IP: "127.0.0.1"}},
		StartTime: &start,
	}
	if p.ip != "" {
		st.PodIP, st.PodIPs = p.ip, []corev1.PodIP{{IP: p.ip}}
	}
	readyStatus, reason := corev1.ConditionFalse, notReadyReason
	if ready {
		readyStatus, reason = corev1.ConditionTrue, ""
	} else if reason == "" {
		reason = "ContainersNotReady"
	}
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, s corev1.ConditionStatus, reason string) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: s, Reason: reason, LastTransitionTime: now}
	}
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue, ""),
		cond(corev1.PodInitialized, corev1.ConditionTrue, ""),
		cond(corev1.ContainersReady, readyStatus, reason),
		cond(corev1.PodReady, readyStatus, reason),
		cond(corev1.PodScheduled, corev1.ConditionTrue, ""),
	}
	return st
}

func containerStatus(p *pod, ready bool, state corev1.ContainerState) corev1.ContainerStatus {
	c := p.spec.Spec.Containers[0]
	started := state.Running != nil
	// The id of the unpacked image it runs in; a host process has none: its image name then.
	imageID := c.Image
	if p.image != nil && p.image.ID != "" {
		imageID = "sha256:" + strings.TrimPrefix(p.image.ID, "sha256:")
	}
	return corev1.ContainerStatus{
		Name:        c.Name,
		Image:       c.Image,
		ImageID:     imageID,
		ContainerID: containerID(p),
		Ready:       ready,
		Started:     &started,
		State:       state,
	}
}

// containerID names the process: "kcr-test://PID".
func containerID(p *pod) string {
	if p.proc == nil {
		return ""
	}
	return fmt.Sprintf("kcr-test://%d", p.proc.cmd.Process.Pid)
}
