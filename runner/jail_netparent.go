package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
)

// The network namespace every sandbox's own is made from.
//
// A new network namespace shares the host's TCP connection table unless the namespace it is made from
// says otherwise (net.ipv4.tcp_child_ehash_entries, Linux 6.1+). Shared, every sandbox's end walks that
// whole table for TIME_WAIT sockets of its own: 262,144 buckets on a 24 GiB host, about a quarter of a
// millisecond of the kernel's netns clean-up for every run. Made from this parent, whose
// tcp_child_ehash_entries and udp_child_hash_entries are small, a sandbox's namespace gets small tables
// of its own, and a sandbox's connections are not even in the host's table. Nothing runs in the parent:
// the jail's namespace pool (jail_netns.go), or a holder when none waits (still host root), enters it
// only to create a sandbox's namespace from there.
//
// The kernel sizes two limits of a namespace from its TCP table: at most half as many TIME_WAIT sockets
// (tcp_max_tw_buckets: 512 here; past that a closed connection skips TIME_WAIT, harmless on a loopback
// that is all a sandbox has) and a SYN backlog of at least 128. 1024 buckets keep the walk 256 times
// shorter than the host's while leaving a run room for many short connections.
const netParentBuckets = "1024"

// newNetParent makes the parent namespace; nil (and why) when this kernel has no such settings or it
// cannot be made: sandboxes then share the host's tables, as before Linux 6.1.
func newNetParent() (*os.File, error) {
	type made struct {
		f   *os.File
		err error
	}
	ch := make(chan made, 1)
	go func() {
		// Never unlocked: the thread leaves the host's network namespace, and ends with this goroutine.
		runtime.LockOSThread()
		f, err := func() (*os.File, error) {
			if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
				return nil, fmt.Errorf("unshare: %v", err)
			}
			// /proc/sys/net is the namespace of the thread that opens it: this one's.
			for _, knob := range []string{"tcp_child_ehash_entries", "udp_child_hash_entries"} {
				if err := os.WriteFile("/proc/sys/net/ipv4/"+knob, []byte(netParentBuckets), 0); err != nil {
					if errors.Is(err, os.ErrNotExist) && knob == "udp_child_hash_entries" {
						continue // Linux 6.1: TCP's only
					}
					return nil, err
				}
			}
			return os.Open("/proc/thread-self/ns/net")
		}()
		ch <- made{f, err}
	}()
	m := <-ch
	return m.f, m.err
}
