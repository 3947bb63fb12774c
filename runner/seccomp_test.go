package main

import (
	"encoding/binary"
	"syscall"
	"testing"
)

// runBPF interprets a classic BPF seccomp program on a struct seccomp_data, as the kernel would.
func runBPF(t *testing.T, prog []byte, arch, nr uint32, args ...uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], nr)
	binary.LittleEndian.PutUint32(data[4:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc*bpfInsnLen < len(prog); pc++ {
		in := prog[pc*bpfInsnLen:]
		code, jt, jf, k := binary.LittleEndian.Uint16(in), int(in[2]), int(in[3]), binary.LittleEndian.Uint32(in[4:])
		switch code {
		case bpfLdWAbs:
			acc = binary.LittleEndian.Uint32(data[k:])
		case bpfJeqK, bpfJgeK, bpfJsetK:
			cond := acc == k
			if code == bpfJgeK {
				cond = acc >= k
			} else if code == bpfJsetK {
				cond = acc&k != 0
			}
			if cond {
				pc += jt
			} else {
				pc += jf
			}
		case bpfRetK:
			return k
		default:
			t.Fatalf("unexpected BPF opcode %#x at %d", code, pc)
		}
	}
	t.Fatalf("the program fell off its end")
	return 0
}

func TestSeccompFilterDecisions(t *testing.T) {
	prog, err := seccompFilter()
	if err != nil {
		t.Fatal(err)
	}
	if len(prog)/bpfInsnLen > 4096 {
		t.Fatalf("program too long: %d instructions", len(prog)/bpfInsnLen)
	}
	eperm := uint32(seccompRetErrno | uint32(syscall.EPERM))
	enosys := uint32(seccompRetErrno | uint32(syscall.ENOSYS))
	eafnosupport := uint32(seccompRetErrno | uint32(syscall.EAFNOSUPPORT))
	eprotonosupport := uint32(seccompRetErrno | uint32(syscall.EPROTONOSUPPORT))
	sys := mustSysNumber
	cases := []struct {
		name string
		nr   uint32
		args []uint64
		want uint32
	}{
		{"read", uint32(syscall.SYS_READ), nil, seccompRetAllow},
		{"fork-like clone", sys("clone"), []uint64{uint64(syscall.SIGCHLD)}, seccompRetAllow},
		{"thread clone", sys("clone"), []uint64{syscall.CLONE_VM | syscall.CLONE_FS | syscall.CLONE_FILES | syscall.CLONE_SIGHAND | syscall.CLONE_THREAD}, seccompRetAllow},
		{"clone new user ns", sys("clone"), []uint64{syscall.CLONE_NEWUSER | uint64(syscall.SIGCHLD)}, eperm},
		{"clone new net ns", sys("clone"), []uint64{syscall.CLONE_NEWNET}, eperm},
		{"clone new cgroup ns", sys("clone"), []uint64{0x02000000}, eperm},
		{"clone3", sys("clone3"), nil, enosys},
		{"unshare files", sys("unshare"), []uint64{syscall.CLONE_FILES}, seccompRetAllow},
		{"unshare user", sys("unshare"), []uint64{syscall.CLONE_NEWUSER}, eperm},
		{"unshare mount", sys("unshare"), []uint64{syscall.CLONE_NEWNS}, eperm},
		{"unshare time", sys("unshare"), []uint64{cloneNewTime}, eperm},
		{"unshare flags in the high half only", sys("unshare"), []uint64{1 << 40}, seccompRetAllow},
		{"io_uring_setup", sys("io_uring_setup"), nil, enosys},
		// Go's own numbers: a check of the table's.
		{"io_setup", uint32(syscall.SYS_IO_SETUP), nil, enosys},
		{"io_submit", uint32(syscall.SYS_IO_SUBMIT), nil, enosys},
		{"inotify_init1", uint32(syscall.SYS_INOTIFY_INIT1), nil, enosys},
		// The kernel's number (the same on amd64 and arm64): a check of the table's.
		{"memfd_secret", 447, nil, enosys},
		{"socket unix", sys("socket"), []uint64{afUnix}, seccompRetAllow},
		{"socket inet", sys("socket"), []uint64{afInet}, seccompRetAllow},
		{"socket inet6", sys("socket"), []uint64{afInet6}, seccompRetAllow},
		{"socket netlink route", sys("socket"), []uint64{afNetlink, 3, netlinkRoute}, seccompRetAllow},
		{"socket netlink audit", sys("socket"), []uint64{afNetlink, 3, 9}, eafnosupport},
		{"socket netlink uevent", sys("socket"), []uint64{afNetlink, 3, 15}, eafnosupport},
		{"socket AF_ALG", sys("socket"), []uint64{38}, eafnosupport},
		{"socket AF_RXRPC", sys("socket"), []uint64{33}, eafnosupport},
		{"socket AF_VSOCK", sys("socket"), []uint64{40}, eafnosupport},
		{"socket AF_PACKET", sys("socket"), []uint64{17}, eafnosupport},
		{"socketpair AF_ALG", sys("socketpair"), []uint64{38}, eafnosupport},
		{"socketpair unix", sys("socketpair"), []uint64{afUnix}, seccompRetAllow},
		// AF_INET and AF_INET6: the usual protocols only; the others would load their kernel module.
		{"socket inet tcp", sys("socket"), []uint64{afInet, 1, ipprotoTCP}, seccompRetAllow},
		{"socket inet udp", sys("socket"), []uint64{afInet, 2, ipprotoUDP}, seccompRetAllow},
		{"socket inet icmp", sys("socket"), []uint64{afInet, 2, ipprotoICMP}, seccompRetAllow},
		{"socket inet6 tcp", sys("socket"), []uint64{afInet6, 1, ipprotoTCP}, seccompRetAllow},
		{"socket inet6 icmpv6", sys("socket"), []uint64{afInet6, 2, ipprotoICMPv6}, seccompRetAllow},
		{"socket inet protocol in the high half only", sys("socket"), []uint64{afInet, 1, 1 << 40}, seccompRetAllow},
		{"socket inet sctp", sys("socket"), []uint64{afInet, 1, 132}, eprotonosupport},
		{"socket inet6 sctp", sys("socket"), []uint64{afInet6, 5, 132}, eprotonosupport},
		{"socket inet dccp", sys("socket"), []uint64{afInet, 6, 33}, eprotonosupport},
		{"socket inet l2tp", sys("socket"), []uint64{afInet, 2, 115}, eprotonosupport},
		{"socket inet udplite", sys("socket"), []uint64{afInet, 2, 136}, eprotonosupport},
		{"socket inet mptcp", sys("socket"), []uint64{afInet, 1, 262}, eprotonosupport},
		{"socket inet raw", sys("socket"), []uint64{afInet, 3, 255}, eprotonosupport},
		{"socketpair inet sctp", sys("socketpair"), []uint64{afInet, 1, 132}, eprotonosupport},
		// personality: asking, and the values Docker's default profile allows; no other.
		{"personality query", sys("personality"), []uint64{perQuery}, seccompRetAllow},
		{"personality linux", sys("personality"), []uint64{perLinux}, seccompRetAllow},
		{"personality linux32", sys("personality"), []uint64{perLinux32}, seccompRetAllow},
		{"personality uname26", sys("personality"), []uint64{perUname26}, seccompRetAllow},
		{"personality uname26 linux32", sys("personality"), []uint64{perUname26 | perLinux32}, seccompRetAllow},
		{"personality addr_no_randomize", sys("personality"), []uint64{0x0040000}, eperm},
		{"personality read_implies_exec", sys("personality"), []uint64{0x0400000}, eperm},
		{"personality mmap_page_zero", sys("personality"), []uint64{0x0100000}, eperm},
		// Huge TLB pages: the host's reserved pool, outside the sandbox's memory cgroup.
		{"mmap (Go's number)", uint32(syscall.SYS_MMAP), []uint64{0, 2 << 20, 3, 0x22 | mapHugeTLB, ^uint64(0), 0}, eperm},
		{"shmget (Go's number)", uint32(syscall.SYS_SHMGET), []uint64{0, 2 << 20, shmHugeTLB}, eperm},
		{"mmap", sys("mmap"), []uint64{0, 4096, 3, 0x22, ^uint64(0), 0}, seccompRetAllow},
		{"mmap hugetlb", sys("mmap"), []uint64{0, 2 << 20, 3, 0x22 | mapHugeTLB, ^uint64(0), 0}, eperm},
		{"mmap hugetlb 1G", sys("mmap"), []uint64{0, 1 << 30, 3, 0x22 | mapHugeTLB | 30<<26, ^uint64(0), 0}, eperm},
		{"shmget", sys("shmget"), []uint64{0, 4096, 0o1600}, seccompRetAllow},
		{"shmget hugetlb", sys("shmget"), []uint64{0, 2 << 20, 0o1600 | shmHugeTLB}, eperm},
		{"memfd_create", sys("memfd_create"), []uint64{0, 1}, seccompRetAllow},
		{"memfd_create hugetlb", sys("memfd_create"), []uint64{0, 1 | mfdHugeTLB}, eperm},
	}
	for _, name := range seccompDenied {
		if nr, ok := sysNumber(name); ok {
			cases = append(cases, struct {
				name string
				nr   uint32
				args []uint64
				want uint32
			}{name, nr, nil, eperm})
		}
	}
	for _, c := range cases {
		if got := runBPF(t, prog, auditArch, c.nr, c.args...); got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, got, c.want)
		}
	}
	// Every other number is allowed, whatever its arguments: nothing denied by mistake.
	routed := map[uint32]bool{}
	for _, name := range append(append([]string{"clone", "unshare", "socket", "socketpair", "personality", "mmap",
		"shmget", "memfd_create"}, seccompDenied...), seccompNoSys...) {
		if nr, ok := sysNumber(name); ok {
			routed[nr] = true
		}
	}
	for _, name := range seccompNoSys {
		if nr, ok := sysNumber(name); ok {
			if got := runBPF(t, prog, auditArch, nr); got != enosys {
				t.Errorf("%s: got %#x, want ENOSYS", name, got)
			}
		}
	}
	for nr := uint32(0); nr < 1024; nr++ {
		if !routed[nr] {
			if got := runBPF(t, prog, auditArch, nr, ^uint64(0), ^uint64(0), ^uint64(0)); got != seccompRetAllow {
				t.Errorf("syscall %d: got %#x, want allow", nr, got)
			}
		}
	}
	if got := runBPF(t, prog, 0x40000003 /* AUDIT_ARCH_I386 */, 1); got != seccompRetKillProcess {
		t.Errorf("another architecture: got %#x, want kill", got)
	}
	if x32SyscallBit != 0 {
		if got := runBPF(t, prog, auditArch, x32SyscallBit|uint32(syscall.SYS_READ)); got != seccompRetKillProcess {
			t.Errorf("an x32 syscall: got %#x, want kill", got)
		}
	}
}

func TestOnlyStandardLibraryImportsPickTheBareTemplate(t *testing.T) {
	stdlib := map[string]bool{"os": true, "sys": true, "json": true, "collections": true, "math": true}
	cases := map[string]bool{
		"print(1)":                                           true,
		"import os, sys\nimport json as j\n":                 true,
		"from collections.abc import Mapping":                true,
		"  import math  # indented, commented\n":             true,
		"import numpy as np":                                 false,
		"import os, pandas":                                  false,
		"from matplotlib import pyplot":                      false,
		"x = __import__('numpy')":                            false,
		"import importlib\nimportlib.import_module('numpy')": false,
		"exec('import numpy')":                               false,
		"if True:\n    import seaborn\n":                     false,
	}
	for code, want := range cases {
		if got := onlyImports(code, stdlib); got != want {
			t.Errorf("%q: got %v, want %v", code, got, want)
		}
	}
}
