// runner-holder: starts and then is the holder of one jail sandbox (runner/jail_holder.go).
//
// Written in C, not Go, because it is on the path of every run's sandbox and must be cheap:
//  - Go cannot start a child in a new user namespace with vfork (the parent must write the child's uid
//    map while the child waits), so every holder copied the jail server's page tables and left its
//    heap copy-on-write; a single-threaded C process can create the user namespace itself
//    (unshare(2) refuses a multi-threaded caller), so the jail server starts this with a plain vfork;
//  - a holder started as the Go runner paid its runtime and package start-up (~2 ms of CPU each).
//
//   runner-holder SKELETON NEWROOT DATA TMP SHM_BYTES SHM_INODES NET OWNER
//   NET: "=5" when fd 5 is the sandbox's own network namespace, made (lo up) by the jail server
//   (runner/jail_netns.go); else a new one is made here, from fd 5 when "5" (runner/jail_netparent.go
//   says why), from the jail server's own when "-"; nothing else is taken
//   OWNER: the sandbox's host uid, owner of its user namespace
//   fd 3: the ready pipe ("ok\n" or "error: ...\n", from the holder itself)
//   fd 4: a socket to the jail server, for the steps only it can do:
//         -> "u"          the user namespace exists: write its uid/gid maps
//         <- "m"          done
//         -> "<pid>\n"    the holder's host pid (PID 1 of the new pid namespace)
//         <- "r"          the jail server holds a pidfd of it (until then it cannot be reaped)
//
// This process (host root, then with effective uid OWNER until the unshare) makes the user namespace,
// becomes its root (the jail's unprivileged root uid outside), makes the mount, pid, ipc and uts
// namespaces (and the network one, unless the jail server gave it one) and forks the holder, PID 1
// of the pid namespace, then waits for it and exits with it. The holder assembles the sandbox's root
// exactly as the Go holder did before it, says "ok" and only reaps.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { READY_FD = 3, SYNC_FD = 4, NET_FD = 5 };

// linux/securebits.h, which musl does not ship.
#define SECBIT_NO_SETUID_FIXUP (1 << 2)
#ifndef PR_SET_SECUREBITS
#define PR_SET_SECUREBITS 28
#endif

static void fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(READY_FD, "error: %s\n", msg);
  _exit(1);
}

static void mnt(const char *src, const char *dst, const char *type, unsigned long flags, const char *data,
                const char *what) {
  if (mount(src, dst, type, flags, data) != 0) fail("%s: %s", what, strerror(errno));
}

static void in(char *buf, size_t n, const char *root, const char *p) {
  if ((size_t)snprintf(buf, n, "%s/%s", root, p) >= n) fail("path too long: %s/%s", root, p);
}

// Covers /proc's writable kernel knobs with read-only binds of themselves.
static void read_only_proc_knobs(const char *proc) {
  static const char *knobs[] = {"sys", "sysrq-trigger", "irq", "bus", "fs"};
  char p[4096];
  struct stat st;
  for (size_t i = 0; i < sizeof knobs / sizeof *knobs; i++) {
    in(p, sizeof p, proc, knobs[i]);
    if (lstat(p, &st) != 0) continue;
    mnt(p, p, NULL, MS_BIND | MS_REC, NULL, "binding a /proc knob");
    mnt(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL,
        "making a /proc knob read-only");
  }
}

// Masks what of /proc tells about the host's kernel and keys, as container runtimes do: a file
// becomes /dev/null (it reads empty), a directory an empty read-only tmpfs. /proc/keys and key-users
// list the keys (and their owners' quotas) a process may view; kcore is the kernel's memory;
// timer_list, sched_debug, timer_stats and latency_stats show the host's timers and tasks, the
// addresses of kernel objects among them. Those the kernel does not have are skipped.
static void mask_proc(const char *proc, const char *null) {
  static const char *files[] = {"keys", "key-users", "kcore", "timer_list", "sched_debug", "timer_stats",
                                "latency_stats"};
  static const char *dirs[] = {"acpi", "scsi", "asound"};
  char p[4096];
  struct stat st;
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    in(p, sizeof p, proc, files[i]);
    if (lstat(p, &st) != 0) continue;
    mnt(null, p, NULL, MS_BIND, NULL, "masking a /proc file");
  }
  for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
    in(p, sizeof p, proc, dirs[i]);
    if (lstat(p, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    mnt("mask", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0555",
        "masking a /proc directory");
  }
}

// Brings up lo in the sandbox's network namespace (a new one has it down): code may talk to itself
// over 127.0.0.1, and to nothing else.
static void loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("bringing up the loopback interface: %s", strerror(errno));
  struct ifreq req;
  memset(&req, 0, sizeof req);
  strcpy(req.ifr_name, "lo");
  if (ioctl(fd, SIOCGIFFLAGS, &req) != 0) fail("bringing up the loopback interface: %s", strerror(errno));
  req.ifr_flags |= IFF_UP;
  if (ioctl(fd, SIOCSIFFLAGS, &req) != 0) fail("bringing up the loopback interface: %s", strerror(errno));
  close(fd);
}

// The sandbox's root: the skeleton (recursively) at newroot, its /mnt/data and /tmp bound from the
// sandbox's tmpfs (nosuid and nodev come, locked, from there), a bounded /dev/shm, its own /dev/pts
// and /proc, no user namespace below this one, then pivot into it.
static void setup(char **argv, int new_net) {
  const char *skeleton = argv[1], *newroot = argv[2], *data = argv[3], *tmp = argv[4];
  char p[4096], opts[128];
  mnt("", "/", NULL, MS_REC | MS_PRIVATE, NULL, "private mounts");
  mnt(skeleton, newroot, NULL, MS_BIND | MS_REC, NULL, "binding the skeleton");
  in(p, sizeof p, newroot, "mnt/data");
  mnt(data, p, NULL, MS_BIND, NULL, "binding mnt/data");
  in(p, sizeof p, newroot, "tmp");
  mnt(tmp, p, NULL, MS_BIND, NULL, "binding tmp");
  snprintf(opts, sizeof opts, "mode=1777,size=%s,nr_inodes=%s", argv[5], argv[6]);
  in(p, sizeof p, newroot, "dev/shm");
  mnt("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, opts, "mounting /dev/shm");
  in(p, sizeof p, newroot, "dev/pts");
  // max: every devpts instance but the host's draws on one pool (kernel.pty.max less its reserve, 3072
  // by default), which one run could otherwise empty for every other sandbox and container.
  mnt("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,max=32", "mounting /dev/pts");
  in(p, sizeof p, newroot, "proc");
  mnt("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "mounting proc");
  // No user namespace below this one (seccomp denies creating one too): the limit of the sandbox's
  // user namespace, which applies to everything inside it.
  in(p, sizeof p, newroot, "proc/sys/user/max_user_namespaces");
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, "0", 1) != 1) fail("setting max_user_namespaces: %s", strerror(errno));
  close(fd);
  char null[4096];
  in(null, sizeof null, newroot, "dev/null");
  in(p, sizeof p, newroot, "proc");
  read_only_proc_knobs(p);
  mask_proc(p, null);
  if (sethostname("sandbox", 7) != 0) fail("sethostname: %s", strerror(errno));
  if (new_net) loopback_up();
  if (chdir(newroot) != 0) fail("chdir %s: %s", newroot, strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") != 0) fail("pivot_root: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) != 0) fail("detaching the old root: %s", strerror(errno));
  if (chdir("/") != 0) fail("chdir /: %s", strerror(errno));
}

// PID 1 of the sandbox: reaps whatever ends up here until the jail server kills it.
static void reap_forever(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    siginfo_t info;
    sigwaitinfo(&set, &info);
  }
}

static char expect(int fd) {
  char c;
  ssize_t n;
  do n = read(fd, &c, 1);
  while (n < 0 && errno == EINTR);
  return n == 1 ? c : 0;
}

int main(int argc, char **argv) {
  if (argc != 9) fail("usage: runner-holder SKELETON NEWROOT DATA TMP SHM_BYTES SHM_INODES NET OWNER");
  pid_t server = getppid();
  // Entered while still host root: no user namespace of the sandbox could.
  int own_net = strcmp(argv[7], "=5") == 0;
  if (own_net || strcmp(argv[7], "5") == 0) {
    if (setns(NET_FD, CLONE_NEWNET) != 0) fail("entering the network namespace: %s", strerror(errno));
    close(NET_FD);
  } else if (strcmp(argv[7], "-") != 0) {
    fail("NET is \"=5\", \"5\" or \"-\", not \"%s\"", argv[7]);
  }
  // The user namespace belongs to the sandbox's own uid, not to root: the kernel charges what the
  // namespace uses of per-user quotas (pending signals, POSIX message queues, inotify and fanotify,
  // namespaces) to its owner, and root's are those of the host's own services. Made as that uid
  // (effective only) with root's capabilities kept (SECBIT_NO_SETUID_FIXUP), which a host that
  // restricts unprivileged user namespaces asks for.
  char *end;
  errno = 0;
  unsigned long owner = strtoul(argv[8], &end, 10);
  if (errno != 0 || *end != 0 || end == argv[8] || owner == 0 || owner > 0xfffffffeUL)
    fail("OWNER is a host uid above 0, not \"%s\"", argv[8]);
  if (prctl(PR_SET_SECUREBITS, SECBIT_NO_SETUID_FIXUP, 0, 0, 0) != 0)
    fail("keeping the capabilities across the change of uid: %s", strerror(errno));
  if (setresgid(-1, (gid_t)owner, -1) != 0 || setresuid(-1, (uid_t)owner, -1) != 0)
    fail("becoming the sandbox's uid: %s", strerror(errno));
  if (unshare(CLONE_NEWUSER) != 0) fail("creating the user namespace: %s", strerror(errno));
  if (write(SYNC_FD, "u", 1) != 1 || expect(SYNC_FD) != 'm') fail("no uid map from the jail server");
  // Root of the new user namespace (the jail's root uid outside); setgroups stays denied in it.
  if (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0) fail("becoming root in the sandbox: %s", strerror(errno));
  // A change of uid clears the parent-death signal the jail server asked for: ask again, then check
  // the jail server did not die before that.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != server) _exit(1);
  if (unshare(CLONE_NEWNS | CLONE_NEWPID | (own_net ? 0 : CLONE_NEWNET) | CLONE_NEWIPC | CLONE_NEWUTS) != 0)
    fail("creating the namespaces: %s", strerror(errno));
  // alive[1] stays open in this process only: the holder sees a hang-up on alive[0] once it is gone.
  int alive[2];
  if (pipe2(alive, O_CLOEXEC) != 0) fail("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) fail("fork: %s", strerror(errno));
  if (pid == 0) {
    close(SYNC_FD);
    close(alive[1]);
    // Dies with this process, which dies with the jail server (its parent-death signal). If this
    // process is already gone the signal would never come: check after asking for it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct pollfd pfd = {.fd = alive[0], .events = POLLIN};
    if (poll(&pfd, 1, 0) != 0) _exit(1);
    setup(argv, !own_net);
    dprintf(READY_FD, "ok\n");
    close(READY_FD);
    reap_forever();
  }
  close(READY_FD);
  close(alive[0]);
  // The holder cannot be reaped (its pid stays its own) until the jail server holds a pidfd of it.
  if (dprintf(SYNC_FD, "%d\n", pid) < 0 || expect(SYNC_FD) != 'r') {
    kill(pid, SIGKILL);
  }
  close(SYNC_FD);
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}
