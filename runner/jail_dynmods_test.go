package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// Not parallel: it turns the host's flag off first, and a parallel test's jail could turn it on.
func TestJailTurnsOnCgroupFavordynmodsKeepingTheOtherFlags(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the jail runs as root")
	}
	h := findCgroupHierarchies()
	features, _ := os.ReadFile("/sys/kernel/cgroup/features")
	if h.v2 == "" || !slices.Contains(strings.Fields(string(features)), "favordynmods") {
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
	if slices.Contains(findCgroupHierarchies().v2Opts, "favordynmods") {
		t.Fatal("favordynmods could not be turned off for the test")
	}
	j, err := startJail(t, "--cgroup-favordynmods")
	if err != nil {
		t.Fatal(err)
	}
	defer j.stop()
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
}
