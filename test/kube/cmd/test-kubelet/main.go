// Command test-kubelet runs the test kubelet (package kubelet) against the API server of a kubeconfig
// until SIGTERM or SIGINT, then kills its pods' processes and removes their directories.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"kubecoderun/test/kube/container"
	"kubecoderun/test/kube/kubelet"
)

func main() {
	// Image pods start as this binary re-executed into their namespaces (package container).
	container.MaybeInit()
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the API server")
	cfg := kubelet.Config{}
	flag.StringVar(&cfg.NodeName, "node-name", "kcr-test-node", "name of the node to register")
	flag.StringVar(&cfg.RunnerBin, "runner", "", "runner binary a pod's container runs (unless its image has a command)")
	flag.StringVar(&cfg.ImageCommands, "image-commands", "",
		"dir of executables run instead of the runner for an image: <image without tag/digest, '/' -> '_'>")
	flag.StringVar(&cfg.ImageRootfs, "image-rootfs", "",
		"dir of unpacked images (scripts/build-images --rootfs): <image without tag/digest, '/' -> '_'>/{rootfs,config.json}")
	flag.Int64Var(&cfg.PodPidsLimit, "pod-pids-limit", -1, "most processes of an image pod (the kubelet's podPidsLimit); -1: none")
	// Like the IP prefix: a random base, so the pods of concurrent test clusters rarely share host ids.
	flag.IntVar(&cfg.UsernsBase, "userns-base", 1<<30+rand.IntN(64)<<24,
		"first host id of the user namespaces of pods with hostUsers: false (65536 per pod)")
	flag.IntVar(&cfg.UsernsSlots, "userns-slots", 256, "most pods with a user namespace at once")
	flag.StringVar(&cfg.PodDir, "pod-dir", "", "directory for the per-pod directories")
	// A random 127.N: kubelets of concurrent test clusters rarely share addresses (and skip busy ones).
	flag.StringVar(&cfg.IPPrefix, "ip-prefix", fmt.Sprintf("127.%d", 10+rand.IntN(240)), "pods get addresses PREFIX.x.y")
	flag.Parse()
	if *kubeconfig == "" || cfg.RunnerBin == "" || cfg.PodDir == "" {
		log.Fatal("test-kubelet: --kubeconfig, --runner and --pod-dir are required")
	}
	if err := os.MkdirAll(cfg.PodDir, 0o755); err != nil {
		log.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatal(err)
	}
	// Image-command pods get a kubeconfig for this same API server (see kubelet.serviceAccountFiles).
	cfg.APIServer, cfg.APICA = rc.Host, rc.CAData
	if len(cfg.APICA) == 0 && rc.CAFile != "" {
		if cfg.APICA, err = os.ReadFile(rc.CAFile); err != nil {
			log.Fatal(err)
		}
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := kubelet.New(cfg, client).Run(ctx); err != nil {
		log.Fatal(err)
	}
}
