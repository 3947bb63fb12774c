package main

// AUDIT_ARCH_X86_64. x32 syscalls (the x86_64 ABI with 32-bit pointers) have bit 30 set; the filter
// kills them, as it kills i386 ones (another audit arch).
const (
	auditArch     = 0xC000003E
	x32SyscallBit = 0x40000000
)

// sysNumbers are the x86_64 numbers of the syscalls the filter looks at (arch/x86/entry/syscalls).
var sysNumbers = map[string]uint32{
	"clone": 56, "unshare": 272, "personality": 135, "socket": 41, "socketpair": 53,
	"mmap": 9, "shmget": 29, "memfd_create": 319,
	"mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "setns": 308,
	"keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
	"ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
	"kexec_load": 246, "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
	"create_module": 174, "query_module": 178, "get_kernel_syms": 177,
	"reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163, "quotactl": 179,
	"open_by_handle_at": 304, "name_to_handle_at": 303, "syslog": 103, "vhangup": 153, "fanotify_init": 300,
	"settimeofday": 164, "clock_settime": 227, "sethostname": 170, "setdomainname": 171,
	"iopl": 172, "ioperm": 173, "modify_ldt": 154, "uselib": 134, "ustat": 136, "sysfs": 139, "_sysctl": 156,
	"lookup_dcookie": 212, "nfsservctl": 180,
	"io_setup": 206, "io_destroy": 207, "io_getevents": 208, "io_submit": 209, "io_cancel": 210,
	"io_pgetevents": 333, "inotify_init": 253, "inotify_init1": 294,
}
