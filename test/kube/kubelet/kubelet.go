// Package kubelet is a test kubelet: it registers one node, binds every unscheduled pod to it and runs
// each pod's container as a local process on a loopback address of its own (a KubeCodeRun runner, or
// the image's stand-in command from the image-commands dir), reporting the pod's status back through
// the API like a real kubelet. It enforces only what a process can: the user id, the active deadline
// and deletion. Images, volumes, limits and seccomp are ignored.
package kubelet

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// resync re-delivers every pod to sync periodically.
const resync = 30 * time.Second

// Config says which node to be and how to run pods.
type Config struct {
	NodeName  string
	RunnerBin string // the runner binary a pod's container runs when its image has no command
	PodDir    string // per-pod directories are created under it
	IPPrefix  string // "127.N": pods get 127.N.x.y
	// ImageCommands is a dir of executables standing in for images (see imageCommand); "" = none.
	ImageCommands string
	// ImageRootfs is a dir of unpacked images (scripts/build-images --rootfs): a pod whose image is
	// there runs in it as a container (see containerCommand); "" = none.
	ImageRootfs string
	// UsernsBase is the first host id of the user namespaces of pods with hostUsers: false; each pod
	// gets 65536 ids of its own above it (UsernsSlots ranges at most).
	UsernsBase, UsernsSlots int
	// PodPidsLimit is the most processes (threads) an image pod may have at once, the kubelet's
	// podPidsLimit; 0 or less: no limit.
	PodPidsLimit int64
	// APIServer and APICA (PEM) are the API server URL and CA written into the service-account
	// kubeconfig of image-command pods: the ones this kubelet uses.
	APIServer string
	APICA     []byte
}

// Kubelet runs the pods bound to its node.
type Kubelet struct {
	cfg    Config
	client kubernetes.Interface
	ips    *ipPool
	userns *usernsPool
	// cgroupName is the directory of this kubelet's pod cgroups in each hierarchy.
	cgroupName string

	mu      sync.Mutex
	pods    map[types.UID]*pod
	binding map[types.UID]bool
	wg      sync.WaitGroup
}

// New returns a kubelet; Run starts it.
func New(cfg Config, client kubernetes.Interface) *Kubelet {
	return &Kubelet{
		cfg:        cfg,
		client:     client,
		ips:        newIPPool(cfg.IPPrefix),
		userns:     &usernsPool{base: cfg.UsernsBase, slots: cfg.UsernsSlots, used: map[int]bool{}},
		cgroupName: fmt.Sprintf("kcr-test-kubelet-%d", os.Getpid()),
		pods:       map[types.UID]*pod{},
		binding:    map[types.UID]bool{},
	}
}

// Run registers the node, runs pods until ctx ends, then kills every pod process and removes its
// directory. The pods themselves stay in the API.
func (k *Kubelet) Run(ctx context.Context) error {
	if err := k.registerNode(ctx); err != nil {
		return err
	}
	go k.heartbeat(ctx)

	// The periodic resync retries a failed bind or deletion. No field selector: unscheduled pods (nodeName "") must be seen to be bound.
	factory := informers.NewSharedInformerFactory(k.client, resync)
	inf := factory.Core().V1().Pods().Informer()
	_, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { k.sync(ctx, o.(*corev1.Pod)) },
		UpdateFunc: func(_, o any) { k.sync(ctx, o.(*corev1.Pod)) },
		DeleteFunc: func(o any) { k.deleted(o) },
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	log.Printf("kubelet: node %s ready, pods on %s.x.y", k.cfg.NodeName, k.cfg.IPPrefix)
	<-ctx.Done()
	factory.Shutdown()
	k.wg.Wait()
	k.removeCgroupRoots()
	return nil
}

// sync reacts to every add or update of any pod.
func (k *Kubelet) sync(ctx context.Context, p *corev1.Pod) {
	if p.Spec.NodeName == "" {
		k.bind(ctx, p)
		return
	}
	if p.Spec.NodeName != k.cfg.NodeName {
		return
	}
	k.mu.Lock()
	delete(k.binding, p.UID)
	running := k.pods[p.UID]
	if running == nil && p.DeletionTimestamp == nil && !terminal(p) {
		running = newPod(p)
		k.pods[p.UID] = running
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.runPod(ctx, running)
		}()
	}
	k.mu.Unlock()

	if p.DeletionTimestamp == nil {
		return
	}
	if running != nil {
		running.requestStop()
	} else if p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 0 {
		// Nothing runs for it (e.g. finished before this kubelet started): just confirm the deletion.
		go k.confirmDeletion(ctx, p)
	}
}

// deleted handles a pod gone from the API (force-deleted, or a finished pod deleted at once).
func (k *Kubelet) deleted(o any) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = t.Obj
	}
	p, ok := o.(*corev1.Pod)
	if !ok {
		return
	}
	k.mu.Lock()
	running := k.pods[p.UID]
	delete(k.binding, p.UID)
	k.mu.Unlock()
	if running != nil {
		running.requestStop()
	}
}

// bind assigns an unscheduled pod to this node: there is no scheduler in the test control plane.
func (k *Kubelet) bind(ctx context.Context, p *corev1.Pod) {
	if p.DeletionTimestamp != nil {
		return
	}
	k.mu.Lock()
	busy := k.binding[p.UID]
	k.binding[p.UID] = true
	k.mu.Unlock()
	if busy {
		return
	}
	b := &corev1.Binding{
		ObjectMeta: podMeta(p),
		Target:     corev1.ObjectReference{Kind: "Node", Name: k.cfg.NodeName},
	}
	if err := k.client.CoreV1().Pods(p.Namespace).Bind(ctx, b, metaCreate); err != nil {
		log.Printf("kubelet: bind %s/%s: %v", p.Namespace, p.Name, err)
		k.mu.Lock()
		delete(k.binding, p.UID)
		k.mu.Unlock()
	}
}
