package main

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"syscall"
)

// The seccomp filter of every jailed run (docs/runner-protocol.md, "Jail mode"). The jail server
// generates it once and hands it to the templates as raw BPF (struct sock_filter[]); each run's child
// loads it after dropping its privileges, just before user code runs. It denies what code interpreters
// never need and container escapes often use; everything else is allowed:
//
//   - a syscall of another ABI (i386, x32): the process is killed;
//   - new namespaces (clone/unshare with a CLONE_NEW* flag, setns): EPERM. clone3 gets ENOSYS, so libc
//     and runtimes fall back to clone, whose flags the filter can read;
//   - the mount family, chroot, pivot_root: EPERM;
//   - keyctl, add_key, request_key, bpf, perf_event_open, userfaultfd: EPERM; io_uring: ENOSYS (libuv
//     falls back to its thread pool);
//   - native AIO (io_setup, io_submit, ...): ENOSYS. Its quota is the whole host's: io_setup(65536)
//     takes all of fs.aio-max-nr. glibc's POSIX AIO uses threads;
//   - inotify: ENOSYS. No run needs it, and what watches files (tail -f, watchdog) falls back to
//     polling;
//   - memfd_secret: ENOSYS. The kernel takes secret memory's pages out of its direct map, splitting
//     the host's 2 MiB and 1 GiB mappings of it into 4 KiB ones, for good (until a reboot): one run
//     that mapped 8 MiB of it in 100 processes left 110 MiB more of the host's memory mapped by 4 KiB
//     pages, which every later kernel access to it pays for in TLB misses. No run needs it;
//   - ptrace, process_vm_readv/writev, pidfd_getfd, kcmp: EPERM;
//   - kernel modules, kexec, reboot, swap, accounting, quotas, open_by_handle_at, ioperm/iopl, ...: EPERM;
//   - socket/socketpair: only AF_UNIX, AF_INET, AF_INET6, and AF_NETLINK with NETLINK_ROUTE (glibc and
//     libuv list interfaces through it); any other family gets EAFNOSUPPORT (AF_ALG, AF_RXRPC, AF_VSOCK,
//     AF_PACKET, AF_KEY, ...). AF_INET and AF_INET6 only with protocol 0, TCP, UDP, ICMP or ICMPv6;
//     any other gets EPROTONOSUPPORT: SCTP, DCCP, L2TP, ... would have the kernel load their module,
//     code that has been the way in of many kernel bugs;
//   - personality: only the values Docker's default profile allows (0, PER_LINUX32, UNAME26, both,
//     and 0xffffffff, which only asks the current one); anything else (ADDR_NO_RANDOMIZE,
//     READ_IMPLIES_EXEC, ...) gets EPERM;
//   - huge TLB pages (mmap with MAP_HUGETLB, shmget with SHM_HUGETLB, memfd_create with MFD_HUGETLB):
//     EPERM. They come from the host's reserved pool, which a sandbox's memory cgroup does not count
//     (the jail sets no hugetlb limit): one run could take every page another service reserved.
//     Runtimes that ask for them fall back to ordinary pages; transparent huge pages stay allowed.

const (
	seccompRetKillProcess = 0x80000000
	seccompRetErrno       = 0x00050000
	seccompRetAllow       = 0x7fff0000

	bpfLdWAbs  = 0x00 | 0x00 | 0x20 // BPF_LD | BPF_W | BPF_ABS
	bpfJeqK    = 0x05 | 0x10 | 0x00 // BPF_JMP | BPF_JEQ | BPF_K
	bpfJgeK    = 0x05 | 0x30 | 0x00 // BPF_JMP | BPF_JGE | BPF_K
	bpfJsetK   = 0x05 | 0x40 | 0x00 // BPF_JMP | BPF_JSET | BPF_K
	bpfRetK    = 0x06 | 0x00        // BPF_RET | BPF_K
	bpfInsnLen = 8

	// offsets in struct seccomp_data
	seccompNr   = 0
	seccompArch = 4
	seccompArg0 = 16 // args[i] at 16+8i; the low 32 bits come first on little-endian machines

	nsCloneFlags = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
	cloneNewTime = 0x00000080 // only meaningful for unshare (for clone it is part of the exit signal)

	afUnix, afInet, afInet6, afNetlink = 1, 2, 10, 16
	netlinkRoute                       = 0

	ipprotoIP, ipprotoICMP, ipprotoTCP, ipprotoUDP, ipprotoICMPv6 = 0, 1, 6, 17, 58

	perLinux, perLinux32, perUname26, perQuery = 0x0000, 0x0008, 0x0020000, 0xffffffff

	mapHugeTLB, shmHugeTLB, mfdHugeTLB = 0x40000, 0x800, 0x4
)

// seccompDenied fail with EPERM whatever their arguments, by name; those the architecture does not
// have are skipped (sysNumbers in seccomp_<arch>.go).
var seccompDenied = []string{
	"mount", "umount2", "pivot_root", "chroot",
	"open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr", "open_tree_attr",
	"setns",
	"keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"create_module", "query_module", "get_kernel_syms",
	"reboot", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "open_by_handle_at", "name_to_handle_at",
	"syslog", "vhangup", "fanotify_init", "settimeofday", "clock_settime", "sethostname", "setdomainname",
	"iopl", "ioperm", "modify_ldt", "uselib", "ustat", "sysfs", "_sysctl", "lookup_dcookie", "nfsservctl",
}

// seccompNoSys fail with ENOSYS, so callers fall back to something else.
var seccompNoSys = []string{"clone3", "io_uring_setup", "io_uring_enter", "io_uring_register",
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
	"inotify_init", "inotify_init1", "memfd_secret"}

// unifiedSysNumbers are numbered the same on every architecture (the unified table, Linux 5.1+).
var unifiedSysNumbers = map[string]uint32{
	"io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "open_tree": 428,
	"move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "clone3": 435,
	"pidfd_getfd": 438, "process_madvise": 440, "mount_setattr": 442, "quotactl_fd": 443,
	"memfd_secret": 447, "open_tree_attr": 467,
}

// sysNumber is the number of a syscall on this architecture.
func sysNumber(name string) (uint32, bool) {
	if n, ok := unifiedSysNumbers[name]; ok {
		return n, true
	}
	n, ok := sysNumbers[name]
	return n, ok
}

func mustSysNumber(name string) uint32 {
	n, ok := sysNumber(name)
	if !ok {
		panic("seccomp: no syscall " + name + " on this architecture")
	}
	return n
}

// bpfInsn is one struct sock_filter, with symbolic jump targets until assembled.
type bpfInsn struct {
	code   uint16
	jt, jf string // label to jump to; "" = the next instruction
	k      uint32
	label  string // this instruction's label
}

// bpfAssemble turns instructions into struct sock_filter[] (little-endian, as the kernel reads it on the
// architectures the runner is built for).
func bpfAssemble(insns []bpfInsn) ([]byte, error) {
	at := map[string]int{}
	for i, in := range insns {
		if in.label != "" {
			at[in.label] = i
		}
	}
	off := func(i int, label string) (uint8, error) {
		if label == "" {
			return 0, nil
		}
		j, ok := at[label]
		if !ok || j <= i || j-i-1 > 255 {
			return 0, fmt.Errorf("seccomp: bad jump from %d to %q", i, label)
		}
		return uint8(j - i - 1), nil
	}
	out := make([]byte, 0, bpfInsnLen*len(insns))
	for i, in := range insns {
		jt, err := off(i, in.jt)
		if err != nil {
			return nil, err
		}
		jf, err := off(i, in.jf)
		if err != nil {
			return nil, err
		}
		out = binary.LittleEndian.AppendUint16(out, in.code)
		out = append(out, jt, jf)
		out = binary.LittleEndian.AppendUint32(out, in.k)
	}
	return out, nil
}

func ldAbs(off uint32) bpfInsn             { return bpfInsn{code: bpfLdWAbs, k: off} }
func jeq(k uint32, jt, jf string) bpfInsn  { return bpfInsn{code: bpfJeqK, k: k, jt: jt, jf: jf} }
func jge(k uint32, jt, jf string) bpfInsn  { return bpfInsn{code: bpfJgeK, k: k, jt: jt, jf: jf} }
func jset(k uint32, jt, jf string) bpfInsn { return bpfInsn{code: bpfJsetK, k: k, jt: jt, jf: jf} }
func ret(k uint32) bpfInsn                 { return bpfInsn{code: bpfRetK, k: k} }
func labeled(name string, in bpfInsn) bpfInsn {
	in.label = name
	return in
}

// sysRoute sends a syscall number to a label of the filter.
type sysRoute struct {
	nr    uint32
	label string
}

// sysTree finds the syscall number among routes (sorted) by halving, and allows what none names. The
// kernel runs a new filter once for every syscall number when it is installed (to cache the ones it
// always allows), under a lock with interrupts off: with a chain of ~80 comparisons installing it took
// 1.9 % of the machine at c=8 (~0.1 ms a jailed child), with a tree of ~7 levels 1.0 % (bench/RESULTS.md).
func sysTree(routes []sysRoute, name string) []bpfInsn {
	if len(routes) <= 3 {
		var p []bpfInsn
		for _, r := range routes {
			p = append(p, jeq(r.nr, r.label, ""))
		}
		return append(p, ret(seccompRetAllow))
	}
	mid := len(routes) / 2
	right := sysTree(routes[mid:], name+"r")
	right[0].label = name + "r"
	return append(append([]bpfInsn{jge(routes[mid].nr, name+"r", "")}, sysTree(routes[:mid], name+"l")...), right...)
}

// seccompFilter builds the filter for the runner's own architecture.
func seccompFilter() ([]byte, error) {
	p := []bpfInsn{ldAbs(seccompArch), jeq(auditArch, "", "kill"), ldAbs(seccompNr)}
	if x32SyscallBit != 0 {
		p = append(p, jge(x32SyscallBit, "kill", ""))
	}
	var routes []sysRoute
	for name, label := range map[string]string{"clone": "clone", "unshare": "unshare", "socket": "socket",
		"socketpair": "socket", "personality": "personality", "mmap": "mmap", "shmget": "shmget",
		"memfd_create": "memfd_create"} {
		routes = append(routes, sysRoute{mustSysNumber(name), label})
	}
	for _, name := range seccompDenied {
		if nr, ok := sysNumber(name); ok {
			routes = append(routes, sysRoute{nr, "eperm"})
		}
	}
	for _, name := range seccompNoSys {
		if nr, ok := sysNumber(name); ok {
			routes = append(routes, sysRoute{nr, "enosys"})
		}
	}
	slices.SortFunc(routes, func(a, b sysRoute) int { return cmp.Compare(a.nr, b.nr) })
	p = append(p, sysTree(routes, "t")...)
	p = append(p,
		labeled("clone", ldAbs(seccompArg0)), jset(nsCloneFlags, "eperm", "allow"),
		labeled("unshare", ldAbs(seccompArg0)), jset(nsCloneFlags|cloneNewTime, "eperm", "allow"),
		labeled("socket", ldAbs(seccompArg0)),
		jeq(afUnix, "allow", ""), jeq(afInet, "inet", ""), jeq(afInet6, "inet", ""),
		jeq(afNetlink, "", "eafnosupport"),
		ldAbs(seccompArg0+16), jeq(netlinkRoute, "allow", "eafnosupport"),
		// The protocol is an int: its low 32 bits are all the kernel reads.
		labeled("inet", ldAbs(seccompArg0+16)),
		jeq(ipprotoIP, "allow", ""), jeq(ipprotoTCP, "allow", ""), jeq(ipprotoUDP, "allow", ""),
		jeq(ipprotoICMP, "allow", ""), jeq(ipprotoICMPv6, "allow", "eprotonosupport"),
		// An unsigned int too.
		labeled("personality", ldAbs(seccompArg0)),
		jeq(perLinux, "allow", ""), jeq(perLinux32, "allow", ""), jeq(perUname26, "allow", ""),
		jeq(perUname26|perLinux32, "allow", ""), jeq(perQuery, "allow", "eperm"),
		// Flags are ints: their low 32 bits are all the kernel reads.
		labeled("mmap", ldAbs(seccompArg0+24)), jset(mapHugeTLB, "eperm", "allow"),
		labeled("shmget", ldAbs(seccompArg0+16)), jset(shmHugeTLB, "eperm", "allow"),
		labeled("memfd_create", ldAbs(seccompArg0+8)), jset(mfdHugeTLB, "eperm", "allow"),
		labeled("allow", ret(seccompRetAllow)),
		labeled("eperm", ret(seccompRetErrno|uint32(syscall.EPERM))),
		labeled("enosys", ret(seccompRetErrno|uint32(syscall.ENOSYS))),
		labeled("eafnosupport", ret(seccompRetErrno|uint32(syscall.EAFNOSUPPORT))),
		labeled("eprotonosupport", ret(seccompRetErrno|uint32(syscall.EPROTONOSUPPORT))),
		labeled("kill", ret(seccompRetKillProcess)),
	)
	return bpfAssemble(p)
}
