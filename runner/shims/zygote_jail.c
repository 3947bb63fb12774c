// The templates' loop and their children's way into a sandbox's jail: serve() reads the jail server's
// jobs, forks a child for each and reports on it; the child enters the sandbox's jail (enter_jail) and
// serve() returns in it, to run the code. The Python templates call kcr_serve (shims/zygote.py, through
// ctypes), the Node one serve() with its own steps around the fork (shims/nodezygote.cc includes this
// file): it keeps its event loop's fds above 4 and must make V8's heap inheritable.
//
// Written in C, not Python, because both run in a process whose pages a fork has just shared: each
// Python statement touches objects (reference counts) and so copies their pages (a copy-on-write
// fault, about 2.5 us each on the bench VM). In the child, the jail entry's steps took about 200 such
// faults and 1.5 ms of CPU per run in Python; in the template, its loop wrote again after every fork
// the pages the fork had just shared. Here they are the system calls and little else.
// Built by scripts/build next to the runner (target/runner-zygote.so); the jail server copies it to its
// Python templates' shims (--zygote-lib, RUNNER_ZYGOTE_LIB) and refuses to start without it.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif
#define SANDBOX_ID 65532
#define MAX_FDS 64
#define MAX_LIMITS 8
#define NSLOTS 5
#define CTL_FD 3

// Set once by kcr_setup; cap_last_cap stays -1 (every child refuses) until it succeeded.
static int cap_last_cap = -1;
static int nlimits;
static int limit_ids[MAX_LIMITS];
static struct rlimit limits[MAX_LIMITS];
static struct sock_fprog prog;

// kcr_setup keeps, in the template (every child inherits them), what each child applies: the last
// capability to drop, the rlimits as (resource, value) pairs and the seccomp filter. 0, or -1 with
// the reason in err when a value is out of range or it was already called.
int kcr_setup(int last_cap, const long long *pairs, int n, const unsigned char *filter, int filter_len, char *err,
              int errlen) {
  const char *bad = NULL;
  if (errlen <= 0) return -1;
  if (cap_last_cap >= 0) bad = "already set up";
  else if (last_cap < 0 || last_cap > 63) bad = "cap_last_cap out of range";
  else if (n < 0 || n > MAX_LIMITS) bad = "too many rlimits";
  else if (filter_len <= 0 || filter_len % (int)sizeof(struct sock_filter) ||
           filter_len / (int)sizeof(struct sock_filter) > BPF_MAXINSNS)
    bad = "the seccomp filter's size";
  for (int i = 0; !bad && i < n; i++)
    if (pairs[2 * i] < 0 || pairs[2 * i] >= RLIMIT_NLIMITS || pairs[2 * i + 1] < 0) bad = "an rlimit out of range";
  struct sock_filter *copy = bad ? NULL : (struct sock_filter *)malloc(filter_len);
  if (!bad && !copy) bad = "out of memory";
  if (bad) {
    snprintf(err, errlen, "%s", bad);
    return -1;
  }
  nlimits = n;
  for (int i = 0; i < n; i++) {
    limit_ids[i] = (int)pairs[2 * i];
    limits[i].rlim_cur = limits[i].rlim_max = (rlim_t)pairs[2 * i + 1];
  }
  memcpy(copy, filter, filter_len);
  prog.len = (unsigned short)(filter_len / sizeof(struct sock_filter));
  prog.filter = copy;
  cap_last_cap = last_cap;
  return 0;
}

static int failed(char *err, int errlen, const char *what) {
  snprintf(err, errlen, "%s: %s", what, strerror(errno));
  return -1;
}

// A job's fd names are short words: "ns", "stdin", "cg", ...
static int valid_name(const char *name, size_t len) {
  if (len == 0 || len >= 8) return 0;
  for (size_t i = 0; i < len; i++) {
    char c = name[i];  // ASCII only, whatever the locale
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return 0;
  }
  return 1;
}

// enter_jail: zygote.py's steps 1-5 in a forked child. fds are the job's descriptors, name their names
// ("ns", "stdin", "stdout", "stderr", "status", "job", "cg"). close_fds closes what the child must not
// keep above fd 4; NULL closes all of it. 0 once jailed, else -1 with what failed in err: the child
// must then exit, never run anything.
static int enter_jail(int n, const int *fds, char name[][8], void (*close_fds)(void), char *err, int errlen) {
  static const char *slots[NSLOTS] = {"stdin", "stdout", "stderr", "status", "job"};
  int high[MAX_FDS];
  if (errlen <= 0) return -1;
  if (cap_last_cap < 0) {
    errno = EINVAL;
    return failed(err, errlen, "kcr_setup was not called");
  }
  if (n < 0 || n > MAX_FDS) {
    errno = EINVAL;
    return failed(err, errlen, "too many fds");
  }
  for (int i = 0; i < n; i++)
    if (!valid_name(name[i], strnlen(name[i], 8))) {
      errno = EINVAL;
      return failed(err, errlen, "fd names");
    }
  // 1. Every fd above the slots first: a job fd numbered 0-4 must not be overwritten by another's dup2.
  // The received ones are then closed, so only the slots hold the job's fds (a Node child keeps the
  // pipes above 4 that are its event loop's).
  for (int i = 0; i < n; i++) {
    high[i] = fcntl(fds[i], F_DUPFD, 100);
    if (high[i] < 0) return failed(err, errlen, "dup");
  }
  for (int i = 0; i < n; i++) close(fds[i]);
  for (int s = 0; s < NSLOTS; s++) {
    int found = -1;
    for (int i = 0; i < n && found < 0; i++)
      if (strcmp(name[i], slots[s]) == 0) found = high[i];
    if (found >= 0) {
      if (dup2(found, s) < 0) return failed(err, errlen, "dup2");
    } else if (s <= 2) {
      int null = open("/dev/null", O_RDWR);
      if (null < 0 || dup2(null, s) < 0) return failed(err, errlen, "/dev/null");
      if (null != s) close(null);
    } else {
      close(s);
    }
  }
  // 2. Groups, rlimits (while still privileged: a hard limit may have to be raised), cgroups,
  // namespaces.
  if (setgroups(0, NULL)) return failed(err, errlen, "setgroups");
  for (int i = 0; i < nlimits; i++)
    if (setrlimit(limit_ids[i], &limits[i])) return failed(err, errlen, "setrlimit");
  int ns = -1;
  for (int i = 0; i < n; i++) {
    if (strcmp(name[i], "cg") == 0) {
      ssize_t w = write(high[i], "0", 1);
      if (w != 1) {
        if (w >= 0) errno = EIO;
        return failed(err, errlen, "joining a cgroup");
      }
    }
    // The first, as the template's setns into its pid namespace took.
    if (strcmp(name[i], "ns") == 0 && ns < 0) ns = high[i];
  }
  if (ns < 0) {
    errno = EINVAL;
    return failed(err, errlen, "no namespace fd");
  }
  if (setns(ns, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)) return failed(err, errlen, "setns");
  if (unshare(CLONE_NEWCGROUP)) return failed(err, errlen, "unshare cgroup");
  if (chdir("/mnt/data")) return failed(err, errlen, "chdir /mnt/data");
  // 3. Privileges and limits.
  for (int cap = 0; cap <= cap_last_cap; cap++)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)) return failed(err, errlen, "dropping the bounding set");
  if (setresgid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID)) return failed(err, errlen, "setresgid");
  if (setresuid(SANDBOX_ID, SANDBOX_ID, SANDBOX_ID)) return failed(err, errlen, "setresuid");
  // A session keyring of its own (the sandbox uid's, empty; the filter below denies keyctl): the one
  // inherited is the jail server's, whose keys a possessor may view. A kernel without keys has none.
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS)
    return failed(err, errlen, "joining a session keyring");
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data)) return failed(err, errlen, "capset");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) return failed(err, errlen, "clearing ambient capabilities");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return failed(err, errlen, "no_new_privs");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) return failed(err, errlen, "pdeathsig");
  if (setsid() < 0) return failed(err, errlen, "setsid");
  for (int i = 0; i < n; i++) close(high[i]);
  if (close_fds) close_fds();
  else if (syscall(SYS_close_range, NSLOTS, ~0U, 0)) return failed(err, errlen, "close_range");
  // 4. Fail closed.
  char st[4096];
  int sfd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t len = sfd >= 0 ? read(sfd, st, sizeof st - 1) : -1;
  if (sfd >= 0) close(sfd);
  if (len <= 0) {
    if (len == 0) errno = EIO;
    return failed(err, errlen, "reading /proc/self/status");
  }
  st[len] = 0;
  static const char *want[] = {"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000",
                               "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000",
                               "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Uid:\t65532\t65532\t65532"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(st, want[i])) {
      snprintf(err, errlen, "jail check: no \"%s\" in /proc/self/status", want[i]);
      return -1;
    }
  // 5. The seccomp filter: nothing above may need a denied syscall.
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)) return failed(err, errlen, "seccomp");
  // A process of its own, like any other (/proc/self belongs to it), only now: until the template's
  // fds are closed and the filter is on, another process of the sandbox's uid must not be able to
  // open its /proc/<pid>/fd or write its memory.
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) return failed(err, errlen, "dumpable");
  return 0;
}

// kcr_enter_jail: enter_jail for a child that keeps no fd above 4, its fds' names separated by spaces
// ("ns stdin stdout stderr status cg cg cg"). For the tests only (the jail's refusals,
// zygote_jail_test.go): the templates' children enter through serve.
int kcr_enter_jail(int n, const int *fds, const char *names, char *err, int errlen) {
  char name[MAX_FDS][8];
  if (errlen <= 0) return -1;
  if (n < 0 || n > MAX_FDS) {
    errno = EINVAL;
    return failed(err, errlen, "too many fds");
  }
  // One name per fd, each followed by one space but the last.
  const char *p = names;
  for (int i = 0; i < n; i++) {
    size_t len = strcspn(p, " ");
    if (!valid_name(p, len) || (i < n - 1 ? p[len] != ' ' : p[len] != 0)) {
      errno = EINVAL;
      return failed(err, errlen, "fd names");
    }
    memcpy(name[i], p, len);
    name[i][len] = 0;
    p += len + (i < n - 1);
  }
  return enter_jail(n, fds, name, NULL, err, errlen);
}

// The children alive, each with the job id the jail server gave it.
struct kid {
  long id;
  pid_t pid;
  int pidfd;
};
static struct kid *kids;
static int nkids, capkids;
static int self_pidns = -1;

// say sends one control message to the jail server.
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) send(CTL_FD, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1, MSG_NOSIGNAL);
}

// say_pid reports a forked child's pid with a duplicate of its pidfd (SCM_RIGHTS): the template reaps
// the child, so the jail server must never signal it by number (a reaped pid may be a host process's
// by then); it signals the pidfd, which cannot reach another process.
static void say_pid(long id, pid_t pid, int pidfd) {
  char buf[64];
  int n = snprintf(buf, sizeof buf, "{\"id\":%ld,\"pid\":%d}", id, (int)pid);
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } ctrl;
  memset(&ctrl, 0, sizeof ctrl);
  struct iovec iov = {buf, (size_t)n};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctrl.buf;
  mh.msg_controllen = sizeof ctrl.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &pidfd, sizeof(int));
  sendmsg(CTL_FD, &mh, MSG_NOSIGNAL);
}

// The job header: {"id":N,"fds":["ns","stdin",...]}, written by the jail server. The names are short
// words (valid_name); no escaping.
static int parse_header(const char *msg, long *id, char names[][8], int *n) {
  const char *p = strstr(msg, "\"id\":");
  if (!p) return -1;
  *id = strtol(p + 5, NULL, 10);
  p = strstr(msg, "\"fds\":[");
  if (!p) return -1;
  p += 7;
  *n = 0;
  while (*p && *p != ']') {
    if (*p == '"') {
      const char *end = strchr(p + 1, '"');
      if (!end || !valid_name(p + 1, end - p - 1) || *n >= MAX_FDS) return -1;
      memcpy(names[*n], p + 1, end - p - 1);
      names[*n][end - p - 1] = 0;
      (*n)++;
      p = end + 1;
    } else {
      p++;
    }
  }
  return 0;
}

static void add_kid(long id, pid_t pid, int pidfd) {
  if (nkids == capkids) {
    capkids = capkids ? 2 * capkids : 16;
    kids = (struct kid *)realloc(kids, capkids * sizeof *kids);
    if (!kids) abort();
  }
  kids[nkids].id = id;
  kids[nkids].pid = pid;
  kids[nkids].pidfd = pidfd;
  nkids++;
}

// serve_job forks a child for one job, in the pid namespace of the job's "ns" fd (the sandbox's
// holder): 1 in the child, which enter() has jailed (or ended), 0 in the template.
static int serve_job(void (*before_fork)(void), void (*enter)(int n, int *fds, char names[][8])) {
  char msg[4096];
  union {
    char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
    struct cmsghdr align;
  } ctrl;
  struct iovec iov = {msg, sizeof msg - 1};
  struct msghdr mh;
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = ctrl.buf;
  mh.msg_controllen = sizeof ctrl.buf;
  ssize_t len = recvmsg(CTL_FD, &mh, MSG_CMSG_CLOEXEC);
  if (len == 0) _exit(0);  // the jail server is gone
  if (len < 0) return 0;
  msg[len] = 0;
  int fds[MAX_FDS], nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (int i = 0; i < k; i++) {
        int fd = ((int *)CMSG_DATA(c))[i];
        if (nfds < MAX_FDS) fds[nfds++] = fd;
        else close(fd);
      }
    }
  long id = 0;
  char names[MAX_FDS][8];
  int n = 0, ns = -1;
  const char *bad = parse_header(msg, &id, names, &n) ? "bad job: unreadable header or fd names"
                    : n != nfds                       ? "bad job: not one fd per name"
                                                      : NULL;
  if (bad) {
    for (int i = 0; i < nfds; i++) close(fds[i]);  // before the answer: the job is done with
    say("{\"id\":%ld,\"error\":\"%s\"}", id, bad);
    return 0;
  }
  for (int i = 0; i < n && ns < 0; i++)  // the first, as enter_jail takes
    if (strcmp(names[i], "ns") == 0) ns = fds[i];
  pid_t pid = -1;
  int err = 0;
  if (ns < 0) {
    err = EINVAL;
  } else if (setns(ns, CLONE_NEWPID)) {
    err = errno;
  } else {
    if (before_fork) before_fork();
    pid = fork();
    if (pid == 0) {
      // The other sandboxes' children are none of this one's business (their pidfds close in enter).
      if (kids) memset(kids, 0, capkids * sizeof *kids);
      nkids = 0;
      enter(n, fds, names);
      return 1;
    }
    err = errno;
    if (setns(self_pidns, CLONE_NEWPID)) abort();  // the template must stay in its own namespace
  }
  for (int i = 0; i < nfds; i++) close(fds[i]);
  if (pid < 0) {
    say("{\"id\":%ld,\"error\":\"%s\"}", id, strerror(err));
    return 0;
  }
  int pidfd = syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) {  // it could never be reaped here, nor its end reported: this job only fails
    err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    say("{\"id\":%ld,\"error\":\"pidfd_open: %s\"}", id, strerror(err));
    return 0;
  }
  add_kid(id, pid, pidfd);
  say_pid(id, pid, pidfd);
  return 0;
}

// serve is a template's loop: a child for each job, its wait status once it is gone. It returns 1 only
// in a forked child, jailed by enter(); the template exits once the jail server is gone.
static int serve(void (*before_fork)(void), void (*enter)(int n, int *fds, char names[][8])) {
  struct pollfd *pfds = NULL;
  int cappfds = 0;
  if (self_pidns < 0) self_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  if (self_pidns < 0) abort();
  for (;;) {
    if (cappfds < 1 + nkids) {
      cappfds = 2 * (1 + nkids);
      pfds = (struct pollfd *)realloc(pfds, cappfds * sizeof *pfds);
      if (!pfds) abort();
    }
    int np = 0;
    pfds[np].fd = CTL_FD;
    pfds[np].events = POLLIN;
    pfds[np++].revents = 0;
    for (int i = 0; i < nkids; i++) {
      pfds[np].fd = kids[i].pidfd;
      pfds[np].events = POLLIN;
      pfds[np++].revents = 0;
    }
    if (poll(pfds, np, -1) < 0) {
      if (errno == EINTR) continue;
      abort();
    }
    for (int i = np - 1; i >= 1; i--) {
      if (!pfds[i].revents) continue;
      struct kid k = kids[i - 1];
      int status = 0;
      while (waitpid(k.pid, &status, 0) < 0 && errno == EINTR) {
      }
      close(k.pidfd);
      kids[i - 1] = kids[--nkids];
      say("{\"id\":%ld,\"status\":%d}", k.id, status);
    }
    if (pfds[0].revents && serve_job(before_fork, enter)) {
      free(pfds);
      return 1;
    }
  }
}

// CPython's after-fork steps for the child (PyOS_AfterFork_Child), given by kcr_serve's caller.
static void (*python_after_fork)(void);

// A Python child's way in. First CPython's own after-fork steps, before any Python runs in the child,
// and while the template's fds are still open, as os.fork runs them: the hooks of the template's
// modules may close files of theirs (matplotlib drops its cached fonts), and after the jail entry
// their fd numbers are closed or the job's own. Then the jail: no fd above 4 kept; a child that
// cannot enter says why and ends.
static void enter_python(int n, int *fds, char names[][8]) {
  char err[256];
  python_after_fork();
  if (enter_jail(n, fds, names, NULL, err, sizeof err)) {
    dprintf(2, "runner: cannot enter the jail: %s\n", err);
    _exit(127);
  }
}

// kcr_serve is the Python templates' loop (zygote.py, after kcr_setup and the ready message), called
// with the GIL held (ctypes.PyDLL), as os.fork forks: the template runs no Python thread but this
// one. It returns only in a forked child, jailed, whose after_fork (PyOS_AfterFork_Child: the
// modules' after-fork hooks, random reseeding itself among them; threading, the import lock and
// pending signals reset) ran right after the fork.
int kcr_serve(void (*after_fork)(void)) {
  if (!after_fork) return -1;
  python_after_fork = after_fork;
  return serve(NULL, enter_python);
}
