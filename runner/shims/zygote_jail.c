// A template's child enters its sandbox's jail here: a Python one with one call of kcr_enter_jail
// (shims/zygote.py, through ctypes), a Node one through enter_jail_closing (shims/nodezygote.cc
// includes this file), which differs only in the fds the child keeps above 4 (its event loop's).
//
// Written in C, not Python, because it runs in every Python run's child right after the fork: each
// Python statement there touches objects of the template (reference counts) and so copies their pages
// (a copy-on-write fault, about 2.5 us each on the bench VM), and the steps took about 200 such faults
// and 1.5 ms of CPU per run in Python; here they are the system calls and little else.
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
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SANDBOX_ID 65532
#define MAX_FDS 64
#define MAX_LIMITS 8
#define NSLOTS 5

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

// enter_jail_closing: zygote.py's steps 1-5 in a forked child. fds are the job's descriptors, names
// their names separated by spaces ("ns stdin stdout stderr status cg cg cg"). close_fds closes what the
// child must not keep above fd 4; NULL closes all of it. 0 once jailed, else -1 with what failed in
// err: the child must then exit, never run anything.
static int enter_jail_closing(int n, const int *fds, const char *names, void (*close_fds)(void), char *err,
                              int errlen) {
  static const char *slots[NSLOTS] = {"stdin", "stdout", "stderr", "status", "job"};
  char name[MAX_FDS][8];
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
  // The names, one per fd, each followed by one space but the last.
  const char *p = names;
  for (int i = 0; i < n; i++) {
    size_t len = strcspn(p, " ");
    if (len == 0 || len >= sizeof name[i] || (i < n - 1 ? p[len] != ' ' : p[len] != 0)) {
      errno = EINVAL;
      return failed(err, errlen, "fd names");
    }
    memcpy(name[i], p, len);
    name[i][len] = 0;
    p += len + (i < n - 1);
  }
  // 1. Every fd above the slots first: a job fd numbered 0-4 must not be overwritten by another's dup2.
  for (int i = 0; i < n; i++) {
    high[i] = fcntl(fds[i], F_DUPFD, 100);
    if (high[i] < 0) return failed(err, errlen, "dup");
  }
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
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data)) return failed(err, errlen, "capset");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)) return failed(err, errlen, "clearing ambient capabilities");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) return failed(err, errlen, "no_new_privs");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)) return failed(err, errlen, "pdeathsig");
  // A process of its own, like any other: /proc/self belongs to it.
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)) return failed(err, errlen, "dumpable");
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
  // 5. The seccomp filter, last: nothing above may need a denied syscall.
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0)) return failed(err, errlen, "seccomp");
  return 0;
}

// kcr_enter_jail: enter_jail_closing for a Python child, which keeps no fd above 4.
int kcr_enter_jail(int n, const int *fds, const char *names, char *err, int errlen) {
  return enter_jail_closing(n, fds, names, NULL, err, errlen);
}
