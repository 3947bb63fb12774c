package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"
)

// Not parallel: it turns the host's flag off first, and a parallel test's jail could turn it on.
func TestJailTurnsOnCgroupFavordynmodsKeepingTheOtherFlags(t *testing.T) {
	needRoot(t, "the jail tests run as root, like the local backend")
	h := findCgroupHierarchies()
	if h.v2 == "" || !kernelHasFavorDynmods() {
		t.Skip("no cgroup2 mount, or a kernel without favordynmods")
	}
	var others []string
	for _, o := range h.v2Opts {
		if o != "favordynmods" {
			others = append(others, o)
		}
	}
	// Since Linux 6.18 the kernel keeps part of it on, but the flag the jail reads goes off.
	if err := reconfigureCgroup2(h.v2, others); err != nil {
		t.Fatal(err)
	}
	// The host's flags as they were, whatever the test's outcome.
	t.Cleanup(func() { reconfigureCgroup2(h.v2, h.v2Opts) })
	if slices.Contains(findCgroupHierarchies().v2Opts, "favordynmods") {
		t.Fatal("favordynmods could not be turned off for the test")
	}
	j := ownJail(t, "--cgroup-favordynmods")
	after := findCgroupHierarchies().v2Opts
	if !slices.Contains(after, "favordynmods") {
		t.Fatalf("cgroup2 options after the jail started: %v; its log:\n%s", after, j.log.String())
	}
	for _, o := range others {
		if !slices.Contains(after, o) {
			t.Errorf("the jail cleared the cgroup2 flag %s: %v", o, after)
		}
	}
	if !strings.Contains(j.log.String(), "favordynmods turned on") {
		t.Errorf("the jail's log does not say it turned favordynmods on:\n%s", j.log.String())
	}
	// The next jail finds it on and leaves the mount alone.
	if did, err := favorDynmods(); err != nil || did != "cgroup favordynmods was already on" {
		t.Errorf("with the flag on: %q, %v", did, err)
	}
}

// What the kernel refuses is an error naming the step and where (the jail logs it and goes on): a
// directory that is no mount, a flag the mount's filesystem does not have (nothing is reconfigured).
func TestReconfigureCgroup2RefusalsSayWhat(t *testing.T) {
	needRoot(t, "fspick needs root")
	dir := t.TempDir()
	if err := reconfigureCgroup2(dir, []string{"favordynmods"}); err == nil || !strings.HasPrefix(err.Error(), "fspick "+dir+": ") {
		t.Errorf("a directory that is no mount: %v", err)
	}
	if err := syscall.Mount("kcr-test", dir, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	if err := reconfigureCgroup2(dir, []string{"favordynmods"}); err == nil || !strings.HasPrefix(err.Error(), "fsconfig favordynmods: ") {
		t.Errorf("a flag tmpfs does not have: %v", err)
	}
}
