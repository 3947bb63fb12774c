package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// A Kubernetes sandbox's /dev/termination-log is a file of the node's own disk, mounted writable
// (0666) by the kubelet and counted by no ephemeral-storage limit: what a run writes there must not
// stay after it, in a pod that lives on (a session's pod serves many runs).
func TestWhatARunWritesToTheTerminationLogIsGoneWhenItEnds(t *testing.T) {
	// Where the child uid can reach it (testBase is traversable), 0666 as the kubelet makes it.
	termLog := filepath.Join(testBase, fmt.Sprintf("termination-log-%d", nextDir.Add(1)))
	if err := os.WriteFile(termLog, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(termLog) })
	if err := os.Chmod(termLog, 0o666); err != nil {
		t.Fatal(err)
	}
	tr := newRunner(t, runnerOpts{env: map[string]string{"RUNNER_TERMINATION_LOG": termLog}})

	res := tr.run("bash", `head -c 1048576 /dev/zero > `+termLog+` && stat -c %s `+termLog)
	if res.ExitCode != 0 || res.Stdout != "1048576\n" {
		t.Fatalf("the run could not write the termination log: %v", res)
	}
	if fi, err := os.Stat(termLog); err != nil || fi.Size() != 0 {
		t.Errorf("after the run the termination log holds %v bytes (%v), want 0", fi.Size(), err)
	}

	// A process the run left writing is killed first, so nothing fills it again after.
	res = tr.run("bash", `(while :; do echo x >> `+termLog+`; sleep 0.01; done) & until [ -s `+termLog+` ]; do sleep 0.01; done; echo started`)
	if res.ExitCode != 0 {
		t.Fatalf("second run: %v", res)
	}
	if fi, err := os.Stat(termLog); err != nil || fi.Size() != 0 {
		t.Errorf("after a run that left a writer the termination log holds %v bytes (%v)", fi.Size(), err)
	}
}

func TestTheTerminationLogMustBeAnAbsolutePath(t *testing.T) {
	if _, err := parseConfig(nil, envOf(map[string]string{"RUNNER_TOKEN": "t", "RUNNER_TERMINATION_LOG": "termination-log"})); err == nil {
		t.Error("a relative RUNNER_TERMINATION_LOG was accepted")
	}
}
