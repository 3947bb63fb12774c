package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// User code may swap a folder of the workdir for a symlink to somewhere else while the runner (root in
// jail mode) lists the workdir after a run: the listing never shows what is outside.
func TestSnapshotNeverLeavesTheWorkdirWhileAFolderIsSwappedForASymlink(t *testing.T) {
	base := t.TempDir()
	work, elsewhere := filepath.Join(base, "work"), filepath.Join(base, "other-tenant")
	for _, d := range []string{filepath.Join(work, "d"), elsewhere} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 50; i++ {
		os.WriteFile(filepath.Join(work, "d", "mine"+strings.Repeat("x", i)), nil, 0o644)
		os.WriteFile(filepath.Join(elsewhere, "secret"+strings.Repeat("x", i)), nil, 0o644)
	}
	link := filepath.Join(work, "link")
	if err := os.Symlink(elsewhere, link); err != nil {
		t.Fatal(err)
	}
	// Swaps d and the symlink back and forth until told to stop.
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		tmp := filepath.Join(work, "tmp")
		for !stop.Load() {
			os.Rename(filepath.Join(work, "d"), tmp)
			os.Rename(link, filepath.Join(work, "d"))
			os.Rename(filepath.Join(work, "d"), link)
			os.Rename(tmp, filepath.Join(work, "d"))
		}
	}()
	defer func() { stop.Store(true); <-done }()
	deadline := time.Now().Add(3 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		var files []string
		unlisted := walkWorkdir(work, func(rel string, _ fileStat) { files = append(files, rel) })
		for _, p := range files {
			if strings.Contains(p, "secret") {
				t.Fatalf("listing %d shows a file outside the workdir: %s", n, p)
			}
		}
		for _, u := range unlisted {
			if strings.Contains(u.raw, "secret") {
				t.Fatalf("listing %d names a file outside the workdir: %s", n, u.raw)
			}
		}
	}
}
