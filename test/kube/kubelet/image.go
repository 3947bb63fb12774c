package kubelet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"kubecoderun/test/kube/container"
)

// image is an unpacked image (container.ReadImage).
type image = container.Image

// unpackedImage returns the unpacked image of a pod's image name, or nil when there is none: the image
// without @digest and :tag, every '/' made '_' (as for image commands), under the image-rootfs dir.
func (k *Kubelet) unpackedImage(name string) (*image, error) {
	if k.cfg.ImageRootfs == "" {
		return nil, nil
	}
	n := imageCommandName(name)
	if n == "" {
		return nil, nil
	}
	img, err := container.ReadImage(filepath.Join(k.cfg.ImageRootfs, n))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", name, err)
	}
	return img, nil
}

// containerCommand runs the pod's first container in its image, as a runtime would: the image's
// entrypoint and command (the container's command and args replace them), the image's environment
// under the pod's, the pod's user (else the image's), the pod's emptyDir volumes at their mount paths,
// kubelet-made /etc/hosts, /etc/hostname and /etc/resolv.conf, a read-only root when the container
// asks, its own user namespace when the pod has hostUsers: false. env is the image's environment
// with the pod's over it. The runner's --listen is added last: pods share the host's network, each on
// its own loopback address.
func (k *Kubelet) containerCommand(p *pod, img *image, env *envList, listen string) (*exec.Cmd, *container.Starter, error) {
	c := p.spec.Spec.Containers[0]
	uid, gid, err := runAs(p.spec, &c)
	if err != nil {
		return nil, nil, err
	}
	if uid < 0 || gid < 0 {
		iu, ig, err := imageUser(img.Config.User)
		if err != nil {
			return nil, nil, err
		}
		if uid < 0 {
			uid = iu
		}
		if gid < 0 {
			gid = ig
		}
	}
	if nonRoot(p.spec, &c) && uid == 0 {
		return nil, nil, fmt.Errorf("container has runAsNonRoot and the image runs as root")
	}

	args := append([]string{}, img.Config.Entrypoint...)
	cmdArgs := img.Config.Cmd
	if len(c.Command) > 0 {
		args, cmdArgs = append([]string{}, c.Command...), nil
	}
	if len(c.Args) > 0 {
		cmdArgs = c.Args
	}
	args = append(append(args, cmdArgs...), "--listen", listen)

	mounts, err := k.volumeMounts(p, &c)
	if err != nil {
		return nil, nil, err
	}
	hostname := p.spec.Spec.Hostname
	if hostname == "" {
		hostname = p.spec.Name
	}
	etc, err := k.etcFiles(p, hostname)
	if err != nil {
		return nil, nil, err
	}
	mounts = append(mounts, etc...)

	dir := c.WorkingDir
	if dir == "" {
		dir = img.Config.WorkingDir
	}
	var groups []int
	if sc := p.spec.Spec.SecurityContext; sc != nil {
		if sc.FSGroup != nil {
			groups = append(groups, int(*sc.FSGroup))
		}
		for _, g := range sc.SupplementalGroups {
			groups = append(groups, int(g))
		}
	}
	spec := container.Spec{
		Rootfs: img.Rootfs, Root: filepath.Join(p.dir, "root"), Layer: filepath.Join(p.dir, "layer"),
		Args: args, Env: env.list(), Dir: dir, UID: uid, GID: gid, Groups: groups,
		Hostname: hostname, Mounts: mounts,
	}
	if sc := c.SecurityContext; sc != nil {
		spec.ReadOnlyRoot = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
		spec.NoNewPrivs = sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	}
	if hu := p.spec.Spec.HostUsers; hu != nil && !*hu {
		if p.userns, err = k.userns.alloc(); err != nil {
			return nil, nil, err
		}
		spec.UserNS = &container.IDMap{HostID: p.userns, Size: usernsSize}
	}
	if err := os.MkdirAll(spec.Root, 0o755); err != nil {
		return nil, nil, err
	}
	return container.Command(spec)
}

// imageUser parses an image's USER: "uid" or "uid:gid", numbers only (a name would need the image's
// /etc/passwd); empty is root.
func imageUser(u string) (int, int, error) {
	if u == "" {
		return 0, 0, nil
	}
	us, gs, hasGroup := strings.Cut(u, ":")
	uid, err := strconv.Atoi(us)
	if err != nil {
		return 0, 0, fmt.Errorf("image user %q: only numeric users are supported", u)
	}
	gid := uid
	if hasGroup {
		if gid, err = strconv.Atoi(gs); err != nil {
			return 0, 0, fmt.Errorf("image user %q: only numeric groups are supported", u)
		}
	}
	return uid, gid, nil
}

func nonRoot(p *corev1.Pod, c *corev1.Container) bool {
	nr := false
	if sc := p.Spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		nr = *sc.RunAsNonRoot
	}
	if sc := c.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		nr = *sc.RunAsNonRoot
	}
	return nr
}

// volumeMounts are the container's mounts of the pod's volumes. Only emptyDir volumes are supported:
// a directory per volume under the pod's dir, mode 0777 as a kubelet makes them (sizeLimit is not
// enforced).
func (k *Kubelet) volumeMounts(p *pod, c *corev1.Container) ([]container.Mount, error) {
	var out []container.Mount
	for _, vm := range c.VolumeMounts {
		var vol *corev1.Volume
		for i := range p.spec.Spec.Volumes {
			if p.spec.Spec.Volumes[i].Name == vm.Name {
				vol = &p.spec.Spec.Volumes[i]
			}
		}
		if vol == nil {
			return nil, fmt.Errorf("volume mount %s: no such volume", vm.Name)
		}
		if vol.EmptyDir == nil {
			return nil, fmt.Errorf("volume %s: the test kubelet supports only emptyDir volumes in image pods", vm.Name)
		}
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			return nil, fmt.Errorf("volume mount %s: subPath is not supported by the test kubelet", vm.Name)
		}
		dir := filepath.Join(p.dir, "volumes", vm.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			return nil, err
		}
		out = append(out, container.Mount{Source: dir, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	return out, nil
}

// etcFiles are the files a kubelet manages in every container: /etc/hosts (localhost and the pod's
// own name), /etc/hostname and /etc/resolv.conf (no cluster DNS here).
func (k *Kubelet) etcFiles(p *pod, hostname string) ([]container.Mount, error) {
	dir := filepath.Join(p.dir, "etc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	files := map[string]string{
		"hosts":       fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", p.ip, hostname),
		"hostname":    hostname + "\n",
		"resolv.conf": "# test kubelet: no cluster DNS\n",
	}
	var out []container.Mount
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(files[name]), 0o644); err != nil {
			return nil, err
		}
		out = append(out, container.Mount{Source: path, Target: "/etc/" + name, ReadOnly: true})
	}
	return out, nil
}

// usernsSize is the number of ids of a pod's user namespace, as a kubelet gives each pod.
const usernsSize = 65536

// usernsPool hands out host id ranges for pods with hostUsers: false: base + n*65536, one per pod,
// never two running pods the same (so their processes never share a host uid).
type usernsPool struct {
	base  int
	slots int
	mu    sync.Mutex
	used  map[int]bool
}

func (u *usernsPool) alloc() (int, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for n := range u.slots {
		if !u.used[n] {
			u.used[n] = true
			return u.base + n*usernsSize, nil
		}
	}
	return 0, fmt.Errorf("no free user namespace range (%d in use)", u.slots)
}

func (u *usernsPool) free(host int) {
	if host == 0 {
		return
	}
	u.mu.Lock()
	delete(u.used, (host-u.base)/usernsSize)
	u.mu.Unlock()
}
