package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// A uid range per host (docs/runner-protocol.md, "Jail mode"). A jail hands out the uids of its own
// range and knows nothing of other jails, so two jails on one host (two APIs) with overlapping ranges
// would give sandboxes of both the same host uid at once: one RLIMIT_NPROC, no uid between them. So
// every jail claims its range in one directory of the host and refuses to start while a running jail
// holds an overlapping one.
//
// A claim is a file naming the range and the jail's pid, flock'ed by the jail for its whole life. The
// kernel drops that lock when the process dies, however it dies (SIGKILL, the OOM killer), so a claim
// never outlives its jail and no pid (which the kernel reuses) needs trusting: a claim whose lock can
// be taken is stale and is removed. The directory's own lock makes "look at the claims, then write
// ours" one step, so two jails starting at once cannot both find the other's range free. flock, not
// fcntl: its lock belongs to the open file, so another jail opening a claim to read it and closing it
// does not release it.
const uidClaimDir = "/run/kubecoderun/jail-uids"

// claimUIDRange claims the uids first..last in dir (created 0700 if missing) and returns the locked
// claim: the caller keeps it open for as long as it uses the range, closing it (or exiting) releases
// it. wait bounds the wait for another jail's look at the claims.
func claimUIDRange(dir string, first, last int, wait time.Duration) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("the directory of the jails' uid ranges: %v", err)
	}
	// Anyone else who could write there could hold a claim and keep every jail from starting.
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR ||
		int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return nil, fmt.Errorf("%s (the jails' uid ranges) must be a directory only root can write to", dir)
	}
	dirLock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	defer dirLock.Close() // unlocks the directory
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		err := syscall.Flock(int(dirLock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if err != syscall.EWOULDBLOCK || time.Now().After(deadline) {
			return nil, fmt.Errorf("locking %s: %v", dirLock.Name(), err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Name() == "lock" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, err
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		b, _ := io.ReadAll(io.LimitReader(f, 100))
		if err == nil { // its jail is gone
			os.Remove(path)
			f.Close()
			continue
		}
		f.Close()
		var oFirst, oLast, pid int
		if err != syscall.EWOULDBLOCK {
			return nil, fmt.Errorf("locking %s: %v", path, err)
		} else if _, err := fmt.Sscanf(string(b), "%d %d %d\n", &oFirst, &oLast, &pid); err != nil {
			return nil, fmt.Errorf("%s is not a jail's uid range", path)
		}
		if first <= oLast && oFirst <= last {
			return nil, fmt.Errorf("the uid range %d-%d overlaps the range %d-%d of another running jail (pid %d); give each API on a host its own SANDBOX_UID_BASE",
				first, last, oFirst, oLast, pid)
		}
	}
	// Named by the range, for people listing the directory: a live claim of the same name would have
	// overlapped, a stale one is gone.
	claim, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d-%d", first, last)), os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(claim.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		claim.Close()
		return nil, err
	}
	if _, err := fmt.Fprintf(claim, "%d %d %d\n", first, last, os.Getpid()); err != nil {
		claim.Close()
		return nil, err
	}
	return claim, nil
}
