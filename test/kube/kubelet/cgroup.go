package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The cgroups of image pods: a pids cgroup with the kubelet's pod pids limit (podPidsLimit) and a
// memory cgroup with the container's memory limit, each a directory per pod under one of this
// kubelet's own, in cgroup v1 (a hierarchy per controller) or v2 (one tree).

const cgroupFS = "/sys/fs/cgroup"

// podCgroups are the directories one pod's process is put in.
type podCgroups struct{ dirs []string }

// cgroupV2 reports whether the machine has the unified hierarchy only.
func cgroupV2() bool {
	_, err := os.Stat(filepath.Join(cgroupFS, "cgroup.controllers"))
	return err == nil
}

// newPodCgroups makes the pod's cgroups with their limits: pids.max when the kubelet has a pod pids
// limit, the memory limit when the container has one. None is made when there is nothing to limit.
func (k *Kubelet) newPodCgroups(p *pod) (*podCgroups, error) {
	limits := map[string]string{} // controller -> limit
	if k.cfg.PodPidsLimit > 0 {
		limits["pids"] = strconv.FormatInt(k.cfg.PodPidsLimit, 10)
	}
	if m, ok := p.spec.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]; ok {
		limits["memory"] = strconv.FormatInt(m.Value(), 10)
	}
	cg := &podCgroups{}
	v2 := cgroupV2()
	for _, ctl := range []string{"pids", "memory"} {
		limit, ok := limits[ctl]
		if !ok {
			continue
		}
		parent := filepath.Join(cgroupFS, ctl, k.cgroupName)
		file := map[string]string{"pids": "pids.max", "memory": "memory.limit_in_bytes"}[ctl]
		if v2 {
			parent = filepath.Join(cgroupFS, k.cgroupName)
			file = map[string]string{"pids": "pids.max", "memory": "memory.max"}[ctl]
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s: %w", ctl, err)
		}
		if v2 {
			// The controllers must be enabled from the root down to the pods' parent.
			for _, d := range []string{cgroupFS, parent} {
				os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+"+ctl), 0o644)
			}
		}
		dir := filepath.Join(parent, string(p.spec.UID))
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s: %w", ctl, err)
		}
		if !v2 || len(cg.dirs) == 0 {
			cg.dirs = append(cg.dirs, dir)
		}
		if err := os.WriteFile(filepath.Join(dir, file), []byte(limit), 0o644); err != nil {
			cg.remove()
			return nil, fmt.Errorf("cgroup %s limit %s: %w", ctl, limit, err)
		}
	}
	return cg, nil
}

// add puts a process into every cgroup of the pod.
func (c *podCgroups) add(pid int) error {
	for _, d := range c.dirs {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("joining %s: %w", d, err)
		}
	}
	return nil
}

// remove removes the pod's cgroups, once the processes in them are gone (rmdir fails while a killed
// process is still exiting).
func (c *podCgroups) remove() {
	if c == nil {
		return
	}
	for _, d := range c.dirs {
		for range 100 {
			if err := os.Remove(d); err == nil || os.IsNotExist(err) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// removeCgroupRoots removes the kubelet's own cgroup directories at shutdown.
func (k *Kubelet) removeCgroupRoots() {
	os.Remove(filepath.Join(cgroupFS, k.cgroupName))
	for _, ctl := range []string{"pids", "memory"} {
		os.Remove(filepath.Join(cgroupFS, ctl, k.cgroupName))
	}
}
