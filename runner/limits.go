package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// Go cannot set rlimits for one child only, so every child is started as
//
//	runner __child [cgroup=DIR]... nproc=N nofile=N fsize=N core=0 nice=0 rtprio=0 [uid=U gid=G] -- cmd...
//
// which joins the runner's sandbox cgroups (one cgroup=DIR per directory: the pids cgroup, and the
// memory cgroup with --max-memory, which is the same directory on cgroup v2), lowers its own rlimits,
// drops to the sandbox uid when asked, and then execve's the command. The runner already made it a
// session leader. It starts as the runner's user, so the binary need not be readable by the sandbox
// uid. (Jail mode starts its children inside the sandbox's namespaces instead: see jail_sandbox.go.)
const childCommand = "__child"

const (
	rlimitNPROC     = 0x6 // not exported by package syscall, nor the two below
	rlimitNICE      = 0xd
	rlimitRTPRIO    = 0xe
	prSetPdeathsig  = 1
	prSetNoNewPrivs = 38
	prSetDumpable   = 4
	prSetSubreaper  = 36
)

var rlimitNames = map[string]int{
	"nproc":  rlimitNPROC,
	"nofile": syscall.RLIMIT_NOFILE,
	"fsize":  syscall.RLIMIT_FSIZE,
	"core":   syscall.RLIMIT_CORE,
	"nice":   rlimitNICE,
	"rtprio": rlimitRTPRIO,
}

// childPrefix is the re-exec prefix for a child: cgroups, limits, uid, then "--".
func (c *Config) childPrefix(self string, cgroups []string) []string {
	args := []string{self, childCommand}
	for _, dir := range cgroups {
		args = append(args, "cgroup="+dir)
	}
	args = append(args,
		"nproc="+strconv.FormatUint(c.MaxProcs, 10),
		"nofile="+strconv.FormatUint(c.MaxOpenFiles, 10),
		"fsize="+strconv.FormatUint(c.MaxFileSize, 10),
		"core=0",
		// No real-time scheduling and no raised priority, whatever the runner was given (a pod whose
		// runtime raises RLIMIT_RTPRIO): a SCHED_FIFO busy loop escapes the container's CPU quota
		// and starves the node. The jail lowers them for its sandboxes in jailMain.
		"nice=0", "rtprio=0")
	if c.ChildUID >= 0 {
		args = append(args, "uid="+strconv.Itoa(c.ChildUID), "gid="+strconv.Itoa(c.ChildGID))
	}
	return append(args, "--")
}

// childMain runs in the re-executed child: apply limits and uid, then become the command.
func childMain(args []string) {
	fail := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "runner: "+format+"\n", a...)
		os.Exit(127)
	}
	uid, gid := -1, -1
	i := 0
	for ; i < len(args) && args[i] != "--"; i++ {
		name, val, _ := strings.Cut(args[i], "=")
		if name == "cgroup" {
			if err := joinCgroup(val); err != nil {
				fail("joining the cgroup %s: %v", val, err)
			}
			continue
		}
		n, err := strconv.ParseUint(val, 10, 64)
		if err != nil {
			fail("bad argument %q", args[i])
		}
		switch name {
		case "uid":
			uid = int(n)
		case "gid":
			gid = int(n)
		default:
			res, ok := rlimitNames[name]
			if !ok {
				fail("bad argument %q", args[i])
			}
			var cur syscall.Rlimit
			if err := syscall.Getrlimit(res, &cur); err == nil && cur.Max < n {
				n = cur.Max // an unprivileged process cannot raise its hard limit
			}
			if err := syscall.Setrlimit(res, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
				fail("setrlimit %s: %v", name, err)
			}
		}
	}
	if i+1 >= len(args) {
		fail("no command")
	}
	if gid >= 0 {
		if err := syscall.Setgroups(nil); err != nil {
			fail("setgroups: %v", err)
		}
		if err := syscall.Setgid(gid); err != nil {
			fail("setgid: %v", err)
		}
	}
	if uid >= 0 {
		if err := syscall.Setuid(uid); err != nil {
			fail("setuid: %v", err)
		}
	}
	// A uid change clears the parent-death signal; set it again. No setuid binary may gain privileges.
	prctl(prSetPdeathsig, uintptr(syscall.SIGKILL))
	prctl(prSetNoNewPrivs, 1)
	cmd := args[i+1:]
	path, err := exec.LookPath(cmd[0])
	if err != nil {
		fail("%v", err)
	}
	err = syscall.Exec(path, cmd, os.Environ())
	fail("exec %s: %v", cmd[0], err)
}

// dropSchedulingLimits sets this process's RLIMIT_NICE and RLIMIT_RTPRIO to 0, hard limits too: no
// real-time scheduling, no raised priority, for it and all it starts.
func dropSchedulingLimits() error {
	for _, r := range []int{rlimitNICE, rlimitRTPRIO} {
		if err := syscall.Setrlimit(r, &syscall.Rlimit{}); err != nil {
			return fmt.Errorf("lowering the scheduling limits: %v", err)
		}
	}
	return nil
}

func prctl(option, arg uintptr) error {
	if _, _, e := syscall.RawSyscall(syscall.SYS_PRCTL, option, arg, 0); e != 0 {
		return e
	}
	return nil
}
