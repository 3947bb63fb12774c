// Package e2e tests the test Kubernetes control plane end to end: a real etcd, kube-apiserver and
// kube-controller-manager (scripts/kube-up) with the test kubelet running pods as runner processes.
//
// By default TestMain brings up a fresh cluster in a temp dir and tears it down afterwards; with
// KCR_KUBECONFIG it uses a running one (scripts/kube-up). KCR_SKIP_KUBE=1 skips everything, loudly.
// The first run builds the control plane (minutes): run scripts/kube-build first or use -timeout 0.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

var (
	restConfig *rest.Config
	client     kubernetes.Interface
	// imagesDir is the kubelet's --image-commands dir: kube-up's <state>/images, next to the kubeconfig.
	imagesDir string
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Getenv("KCR_SKIP_KUBE") == "1" {
		fmt.Println("SKIPPED: KCR_SKIP_KUBE=1, the Kubernetes tests did not run")
		return 0
	}
	kubeconfig := os.Getenv("KCR_KUBECONFIG")
	state := ""
	if kubeconfig == "" {
		var err error
		if state, err = os.MkdirTemp("", "kcr-kube-"); err != nil {
			fmt.Println(err)
			return 1
		}
		defer kubeDown(state)
		if kubeconfig, err = kubeUp(state); err != nil {
			fmt.Println("kube-up:", err)
			dumpLogs(state)
			return 1
		}
	}
	imagesDir = filepath.Join(filepath.Dir(kubeconfig), "images")
	var err error
	if restConfig, err = clientcmd.BuildConfigFromFlags("", kubeconfig); err != nil {
		fmt.Println(err)
		return 1
	}
	if client, err = kubernetes.NewForConfig(restConfig); err != nil {
		fmt.Println(err)
		return 1
	}
	code := m.Run()
	if state != "" && (code != 0 || os.Getenv("KCR_KUBE_DUMP_LOGS") == "1") {
		dumpLogs(state)
	}
	return code
}

func script(name string) string { return filepath.Join("..", "..", "..", "scripts", name) }

// kubeUp starts a cluster with its state in dir and returns its kubeconfig path.
func kubeUp(dir string) (string, error) {
	cmd := exec.Command(script("kube-up"))
	cmd.Env = append(os.Environ(), "KCR_KUBE_STATE="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

func kubeDown(dir string) {
	cmd := exec.Command(script("kube-down"))
	cmd.Env = append(os.Environ(), "KCR_KUBE_STATE="+dir)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Println("kube-down:", err)
	}
	os.RemoveAll(dir)
}

// dumpLogs prints the end of every daemon's log, for a failed run.
func dumpLogs(dir string) {
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		fmt.Printf("--- %s (last 40 lines)\n%s\n", l, strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}
