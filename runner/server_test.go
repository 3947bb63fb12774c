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
