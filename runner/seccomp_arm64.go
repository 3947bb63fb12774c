package main

// AUDIT_ARCH_AARCH64; arm64 has no second 64-bit ABI to exclude.
const (
	auditArch     = 0xC00000B7
	x32SyscallBit = 0
)

// sysNumbers are the arm64 numbers of the syscalls the filter looks at (the generic table,
// include/uapi/asm-generic/unistd.h). Syscalls arm64 does not have are absent.
var sysNumbers = map[string]uint32{
	"clone": 220, "unshare": 97, "personality": 92, "socket": 198, "socketpair": 199,
	"mmap": 222, "shmget": 194, "memfd_create": 279,
	"mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "setns": 268,
	"keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
	"ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
	"kexec_load": 104, "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
	"reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89, "quotactl": 60,
	"open_by_handle_at": 265, "name_to_handle_at": 264, "syslog": 116, "vhangup": 58, "fanotify_init": 262,
	"settimeofday": 170, "clock_settime": 112, "sethostname": 161, "setdomainname": 162,
	"lookup_dcookie": 18, "nfsservctl": 42,
	"io_setup": 0, "io_destroy": 1, "io_submit": 2, "io_cancel": 3, "io_getevents": 4, "io_pgetevents": 292,
	"inotify_init1": 26,
}
