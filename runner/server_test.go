package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The shims are written when a run first needs them; a failed write (a full sandbox disk) is tried
// again by the next run, not remembered, over whatever it left.
func TestShimsAreWrittenAgainAfterAFailedWrite(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	s := &Server{cfg: &Config{}, scratchRoot: root}
	if err := s.writeShims(); err == nil {
		t.Fatal("the shims were written without their directory")
	}
	if err := os.Mkdir(filepath.Join(dir, dirShims), 0o755); err != nil {
		t.Fatal(err)
	}
	// What a write cut short (a full disk) left: the next attempt writes over it.
	if err := os.WriteFile(filepath.Join(dir, dirShims, "noderun.js"), []byte("// cut sh"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.writeShims(); err != nil {
		t.Fatalf("the second attempt failed: %v", err)
	}
	for _, name := range []string{"pyrun.py", "noderun.js", "tscrun.js"} {
		got, err := os.ReadFile(filepath.Join(dir, dirShims, name))
		want, _ := shimFiles.ReadFile("shims/" + name)
		if err != nil || string(got) != string(want) {
			t.Errorf("shim %s: %v, %d bytes, want %d", name, err, len(got), len(want))
		}
	}
}

// A sandbox that serves several runs (a session's, or after /reset): code may replace its scratch
// code/ with a symlink to shims/. The next run must make code/ anew, not empty shims/ through the link
// and write its code file there.
func TestRunAfterCodeDirWasReplacedBySymlinkToShimsLeavesTheShims(t *testing.T) {
	tr := newRunner(t, runnerOpts{})
	if res := tr.run("py", "print('first')"); res.ExitCode != 0 {
		t.Fatalf("first run: %v", res)
	}
	shim := filepath.Join(tr.scratch, dirShims, "pyrun.py")
	if !exists(shim) {
		t.Fatal("no shim after a Python run")
	}
	res := tr.run("bash", `cd "$HOME/.." && mv code old && ln -s shims code && ls -l code`)
	if res.ExitCode != 0 {
		t.Fatalf("planting the symlink: %v", res)
	}
	if res := tr.run("py", "print('second')"); res.ExitCode != 0 || res.Stdout != "second\n" {
		t.Fatalf("the run after the symlink: %v", res)
	}
	if !exists(shim) {
		t.Error("the run after the symlink emptied shims/")
	}
	if exists(filepath.Join(tr.scratch, dirShims, "code.py")) {
		t.Error("the run after the symlink wrote its code file into shims/")
	}
	if fi, err := os.Lstat(filepath.Join(tr.scratch, dirCode)); err != nil || !fi.IsDir() {
		t.Errorf("scratch code/ is not a directory of its own: %v %v", fi, err)
	}
}
