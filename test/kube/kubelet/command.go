package kubelet

import (
	"context"
	"fmt"
	"log"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"kubecoderun/test/kube/container"
)

// containerPath is the PATH of a typical container image: the host's system tools, not root's home.
const containerPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// command builds the command for the pod's first container. An unpacked image (unpackedImage) runs
// as a container (containerCommand: the Starter is then non-nil and must be released once the process
// has started). Otherwise the process runs on the host: the image command (imageCommand) if there is
// one, else the runner; the image's entrypoint is taken to be that program: command[1:] and args are
// passed on, then the kubelet's own --listen/--workdir/--scratch, which win (the runner's flags all
// take a value, and the last one counts).
func (k *Kubelet) command(ctx context.Context, p *pod, listen string) (*exec.Cmd, *container.Starter, error) {
	c := p.spec.Spec.Containers[0]
	img, err := k.unpackedImage(c.Image)
	if err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, nil, err
	}
	env := &envList{}
	if img != nil {
		for _, e := range img.Config.Env {
			if name, v, ok := strings.Cut(e, "="); ok {
				env.set(name, v)
			}
		}
	} else {
		env.set("PATH", containerPath)
	}
	env.set("HOSTNAME", p.spec.Name)

	bin := k.cfg.RunnerBin
	var owned []string
	if cmdImg := k.imageCommand(c.Image); img == nil && cmdImg != "" {
		bin = cmdImg
		if automount(p.spec) {
			kubeconfig, files, err := k.serviceAccountFiles(ctx, p)
			if err != nil {
				return nil, nil, fmt.Errorf("service account credentials: %w", err)
			}
			owned = append(owned, files...)
			env.set("KUBECONFIG", kubeconfig)
		}
	}

	// envFrom first, then env: a name in both gets env's value, as in a real kubelet.
	for _, from := range c.EnvFrom {
		if err := k.envFrom(ctx, p, from, env); err != nil {
			return nil, nil, err
		}
	}
	for _, e := range c.Env {
		v, ok, err := k.envValue(ctx, p, e)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			env.set(e.Name, v)
		}
	}
	if img != nil {
		p.image = img
		return k.containerCommand(p, img, env, listen)
	}

	uid, gid, err := runAs(p.spec, &c)
	if err != nil {
		return nil, nil, err
	}
	work, scratch := filepath.Join(p.dir, "data"), filepath.Join(p.dir, "tmp")
	for _, d := range []string{work, scratch} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, nil, err
		}
	}
	owned = append(owned, work, scratch)

	var args []string
	if len(c.Command) > 1 {
		args = append(args, c.Command[1:]...)
	}
	args = append(args, c.Args...)
	args = append(args, "--listen", listen, "--workdir", work, "--scratch", scratch)
	cmd := exec.Command(bin, args...)
	cmd.Env = env.list()
	cmd.Dir = work
	if uid >= 0 {
		// Run as the pod's user, as a container would: the process then is not root, like in a real pod.
		for _, d := range owned {
			if err := os.Chown(d, uid, gid); err != nil {
				return nil, nil, err
			}
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{},
		}}
	}
	return cmd, nil, nil
}

// imageCommand is the executable that stands in for image in the image-commands dir, or "" when
// there is none (or no such dir): the image without @digest and :tag, every '/' made '_'
// ("kubecoderun/api:0.1.0" -> "kubecoderun_api"). Looked up when the pod starts.
func (k *Kubelet) imageCommand(image string) string {
	if k.cfg.ImageCommands == "" {
		return ""
	}
	name := imageCommandName(image)
	if name == "" {
		return ""
	}
	path := filepath.Join(k.cfg.ImageCommands, name)
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return ""
	}
	return path
}

// imageCommandName is the file name of image's command: "registry:5000/x/y@sha256:..." -> "registry:5000_x_y".
func imageCommandName(image string) string {
	if i := strings.Index(image, "@"); i >= 0 {
		image = image[:i]
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		image = image[:i]
	}
	name := strings.ReplaceAll(image, "/", "_")
	if name == "." || name == ".." {
		return ""
	}
	return name
}

// envList is the process environment: names in first-set order, a later value replacing an earlier one.
type envList struct {
	names  []string
	values map[string]string
}

func (e *envList) set(name, value string) {
	if e.values == nil {
		e.values = map[string]string{}
	}
	if _, ok := e.values[name]; !ok {
		e.names = append(e.names, name)
	}
	e.values[name] = value
}

func (e *envList) list() []string {
	out := make([]string, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, n+"="+e.values[n])
	}
	return out
}

// envFrom adds every key of a ConfigMap or Secret, with the entry's prefix. A missing optional source
// adds nothing; a missing required one fails the pod start. Keys that cannot be variable names are
// skipped, as a kubelet does.
func (k *Kubelet) envFrom(ctx context.Context, p *pod, from corev1.EnvFromSource, env *envList) error {
	data := map[string]string{}
	switch {
	case from.ConfigMapRef != nil:
		ref := from.ConfigMapRef
		cm, err := k.client.CoreV1().ConfigMaps(p.spec.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return missingSource(err, ref.Optional, "configmap", ref.Name)
		}
		maps.Copy(data, cm.Data)
	case from.SecretRef != nil:
		ref := from.SecretRef
		s, err := k.client.CoreV1().Secrets(p.spec.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return missingSource(err, ref.Optional, "secret", ref.Name)
		}
		for key, v := range s.Data {
			data[key] = string(v)
		}
	default:
		return fmt.Errorf("envFrom: neither configMapRef nor secretRef")
	}
	for _, key := range slices.Sorted(maps.Keys(data)) {
		name := from.Prefix + key
		if name == "" || strings.ContainsAny(name, "=\x00") {
			log.Printf("kubelet: pod %s: envFrom skips invalid name %q", p.name(), name)
			continue
		}
		env.set(name, data[key])
	}
	return nil
}

func missingSource(err error, optional *bool, kind, name string) error {
	if !apierrors.IsNotFound(err) {
		return err
	}
	if optional != nil && *optional {
		return nil
	}
	return fmt.Errorf("envFrom: %s %q not found", kind, name)
}

// runAs is the uid and gid the container asks for (container level over pod level); -1 keeps the
// kubelet's. runAsNonRoot without a uid is refused like a kubelet refuses a root image.
func runAs(p *corev1.Pod, c *corev1.Container) (int, int, error) {
	var uid, gid *int64
	var nonRoot *bool
	if sc := p.Spec.SecurityContext; sc != nil {
		uid, gid, nonRoot = sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
	}
	u, g := -1, -1
	if uid != nil {
		u, g = int(*uid), int(*uid)
	}
	if gid != nil {
		g = int(*gid)
	}
	effective := u
	if effective < 0 {
		effective = os.Geteuid()
	}
	if nonRoot != nil && *nonRoot && effective == 0 {
		return 0, 0, fmt.Errorf("container has runAsNonRoot and would run as root")
	}
	if u < 0 && g >= 0 {
		u = os.Geteuid()
	}
	return u, g, nil
}

// envValue resolves one env entry: a literal, a field of the pod, or a key of a Secret or ConfigMap.
// ok is false for an optional reference that does not exist.
func (k *Kubelet) envValue(ctx context.Context, p *pod, e corev1.EnvVar) (string, bool, error) {
	src := e.ValueFrom
	switch {
	case src == nil:
		return e.Value, true, nil
	case src.FieldRef != nil:
		return fieldValue(p, src.FieldRef.FieldPath)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := k.client.CoreV1().Secrets(p.spec.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, found := s.Data[ref.Key]; found {
				return string(v), true, nil
			}
		}
		return missing(err, ref.Optional, "secret", ref.Name, ref.Key)
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := k.client.CoreV1().ConfigMaps(p.spec.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			if v, found := cm.Data[ref.Key]; found {
				return v, true, nil
			}
		}
		return missing(err, ref.Optional, "configmap", ref.Name, ref.Key)
	}
	return "", false, fmt.Errorf("env %s: unsupported valueFrom", e.Name)
}

func missing(err error, optional *bool, kind, name, key string) (string, bool, error) {
	if err != nil && !apierrors.IsNotFound(err) {
		return "", false, err
	}
	if optional != nil && *optional {
		return "", false, nil
	}
	return "", false, fmt.Errorf("%s %q has no key %q", kind, name, key)
}

func fieldValue(p *pod, path string) (string, bool, error) {
	switch path {
	case "metadata.name":
		return p.spec.Name, true, nil
	case "metadata.namespace":
		return p.spec.Namespace, true, nil
	case "metadata.uid":
		return string(p.spec.UID), true, nil
	case "spec.nodeName":
		return p.spec.Spec.NodeName, true, nil
	case "spec.serviceAccountName":
		return p.spec.Spec.ServiceAccountName, true, nil
	case "status.podIP":
		return p.ip, true, nil
	case "status.hostIP":
		return "127.0.0.1", true, nil
	}
	return "", false, fmt.Errorf("unsupported fieldRef %q", path)
}
