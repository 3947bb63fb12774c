package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImageCommandName(t *testing.T) {
	for image, want := range map[string]string{
		"kubecoderun/api:0.1.0":                 "kubecoderun_api",
		"kubecoderun/api":                       "kubecoderun_api",
		"registry:5000/x/y@sha256:" + hex64:     "registry:5000_x_y",
		"registry:5000/x/y:1.2@sha256:" + hex64: "registry:5000_x_y",
		"registry:5000/x/y":                     "registry:5000_x_y",
		"busybox":                               "busybox",
		"localhost:5000/a/b:latest":             "localhost:5000_a_b",
		"":                                      "",
		"..":                                    "",
	} {
		if got := imageCommandName(image); got != want {
			t.Errorf("imageCommandName(%q) = %q, want %q", image, got, want)
		}
	}
}

var hex64 = strings.Repeat("ab", 32)

func TestImageCommand(t *testing.T) {
	dir := t.TempDir()
	k := &Kubelet{cfg: Config{ImageCommands: dir}}
	os.WriteFile(filepath.Join(dir, "x_exec"), []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "x_plain"), []byte("#!/bin/sh\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "x_dir"), 0o755)
	for image, want := range map[string]string{
		"x/exec:1": filepath.Join(dir, "x_exec"),
		"x/plain":  "", // not executable
		"x/dir":    "", // not a regular file
		"x/none":   "",
	} {
		if got := k.imageCommand(image); got != want {
			t.Errorf("imageCommand(%q) = %q, want %q", image, got, want)
		}
	}
	if got := (&Kubelet{}).imageCommand("x/exec"); got != "" {
		t.Errorf("without an image-commands dir: %q", got)
	}
}

func TestEnvList(t *testing.T) {
	var e envList
	e.set("A", "1")
	e.set("B", "2")
	e.set("A", "3")
	if got := strings.Join(e.list(), " "); got != "A=3 B=2" {
		t.Errorf("env %q", got)
	}
}
