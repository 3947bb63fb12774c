// KubeCodeRun Node template ("zygote"): the native half of shims/nodezygote.js, built at install time
// (scripts/install.d/runner-node-zygote.sh) as a Node-API addon, so it fits every Node version.
//
// serve() is the template's loop, the Python templates' too (zygote_jail.c, included below: serve): it
// reads jobs from the jail server on fd 3 (SOCK_SEQPACKET: {"id":N,"fds":[names]} with the fds as
// SCM_RIGHTS), forks one child per job and reports {"id":N,"pid":P} (or "error"), then
// {"id":N,"status":W}. It never returns in the template. The child enters the sandbox's jail as a
// Python child does, keeping its event loop's fds, and then returns to JavaScript, which runs the code.
//
// Forking Node needs three things a plain fork() does not give:
//  - V8 marks its heap MADV_DONTFORK: the pages would be missing in the child. Every mapping is made
//    inheritable again right before each fork.
//  - Threads do not survive a fork. The template runs with V8's --single-threaded (no background
//    compiler or GC threads; nothing waits for one), never starts libuv's thread pool (the child
//    starts its own), and the child re-creates its event loop's descriptors (uv_loop_fork).
//  - V8 still posts "jobs" to the platform's worker threads (the mark-compact GC's parallel clearing,
//    wasm compilation), and Node waits for every posted worker task at the end of each event loop
//    turn. The child's platform says it has no worker threads (a job then runs on the thread that
//    joins it, the main one) and drops any task posted to a worker; wasm compiles synchronously
//    (--no-wasm-async-compilation).
//  - Node's teardown at exit joins the platform's worker threads, which the child does not have: the
//    child's process-exit handler (process.exit, an uncaught exception) leaves with _exit once Node
//    has done its part (the 'exit' event, the error report), and the JavaScript half does the same
//    when the event loop ends on its own.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <node.h>
#include <node_api.h>
#include <uv.h>
#include <v8.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

// The loop and the jail entry, shared with the Python templates (kcr_setup, serve, enter_jail).
#include "zygote_jail.c"

// The child's status pipe (fd 3) as it was before the code ran: leave() writes only to that pipe.
static dev_t status_dev;
static ino_t status_ino;
static bool have_status;

// The inodes of the template's pipes at the last fork (-1 entries: more than it holds), so the child
// tells them from pipes made after the fork (libuv's signal lock, which its fork handler re-creates).
static ino_t template_pipes[256];
static int ntemplate_pipes;

static void note_template_pipes(void) {
  ntemplate_pipes = 0;
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    ntemplate_pipes = -1;
    return;
  }
  struct dirent *e;
  struct stat st;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || fstat(atoi(e->d_name), &st) || !S_ISFIFO(st.st_mode)) continue;
    if (ntemplate_pipes == (int)(sizeof template_pipes / sizeof template_pipes[0])) {
      ntemplate_pipes = -1;
      break;
    }
    template_pipes[ntemplate_pipes++] = st.st_ino;
  }
  closedir(d);
}

static void make_forkable(void) {
  note_template_pipes();
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f) return;
  char line[512];
  unsigned long a, b;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "%lx-%lx", &a, &b) == 2) madvise((void *)a, b - a, MADV_DOFORK);
  }
  fclose(f);
}

static void fail(const char *what) {
  dprintf(2, "runner: cannot enter the jail: %s: %s\n", what, strerror(errno));
  _exit(127);
}

// default_loop_fd reports whether fd is one of the default event loop's own, which uv_loop_fork closes
// and re-creates in the child (closed here, its number could be reused before uv_loop_fork closes it).
static bool default_loop_fd(int fd) {
  uv_loop_t *l = uv_default_loop();
  return fd == l->backend_fd || fd == l->async_io_watcher.fd || fd == l->async_wfd || fd == l->signal_pipefd[0] ||
         fd == l->signal_pipefd[1];
}

enum fd_kind { OTHER, PIPE, EVENTFD, EPOLL };

// own_copy puts at fd a new pipe end, eventfd or epoll of the child's own, with fd's status flags.
static void own_copy(int fd, enum fd_kind kind) {
  int fresh, spare = -1, p[2];
  int flags = fcntl(fd, F_GETFL);
  if (kind == PIPE) {
    if (pipe2(p, O_CLOEXEC)) fail("pipe2");
    bool reads = (flags & O_ACCMODE) == O_RDONLY;
    fresh = reads ? p[0] : p[1];
    spare = reads ? p[1] : p[0];
  } else if (kind == EVENTFD) {
    fresh = eventfd(0, EFD_CLOEXEC);
  } else {
    fresh = epoll_create1(EPOLL_CLOEXEC);
  }
  if (fresh < 0 || flags < 0 || dup3(fresh, fd, O_CLOEXEC) < 0 || fcntl(fd, F_SETFL, flags) < 0) fail("a descriptor of its own");
  close(fresh);
  if (spare >= 0) close(spare);
}

// shared_pipe reports whether the pipe at fd is one the template had at the fork.
static bool shared_pipe(int fd) {
  if (ntemplate_pipes < 0) {
    errno = EMFILE;
    fail("listing the template's pipes");
  }
  struct stat st;
  if (fstat(fd, &st)) fail("fstat");
  for (int i = 0; i < ntemplate_pipes; i++)
    if (template_pipes[i] == st.st_ino) return true;
  return false;
}

// close_template_fds leaves the child nothing of the template's above the slots but the default event
// loop's own descriptors (uv_loop_fork re-creates them). The other event loops' pipes, eventfds and
// epolls belong to the template's threads (the child has none), which read their signal pipes as
// messages holding a handle's address and call through it: a child holding them could make the
// template, outside any jail, call what it chose. Each becomes one of the child's own, of the same
// kind, so Node in the child that still posts to such a loop writes to a descriptor nobody reads
// instead of failing (or writing into a file that reused the number). Pipes made after the fork (the
// signal lock libuv's fork handler re-creates) are the child's own and stay. Everything else (sockets,
// pidfds, namespaces, files, directories) is closed. No io_uring: libuv's is off in the template
// (UV_USE_IO_URING=0), and a ring's memory is shared with the template: a child holding one fails.
static void close_template_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) fail("listing /proc/self/fd");
  int dfd = dirfd(d);
  struct dirent *e;
  int fds[1024], n = 0;
  enum fd_kind kinds[1024];
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd <= 4 || fd == dfd || default_loop_fd(fd)) continue;
    if (n == 1024) fail("more than 1024 descriptors in the template");
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(path, target, sizeof target - 1);
    target[len > 0 ? len : 0] = 0;
    if (strcmp(target, "anon_inode:[io_uring]") == 0) {
      errno = EPERM;
      fail("an io_uring of the template");
    }
    if (strncmp(target, "pipe:", 5) == 0 && !shared_pipe(fd)) continue;  // the child's own
    fds[n] = fd;
    kinds[n++] = strncmp(target, "pipe:", 5) == 0                ? PIPE
                 : strcmp(target, "anon_inode:[eventfd]") == 0   ? EVENTFD
                 : strcmp(target, "anon_inode:[eventpoll]") == 0 ? EPOLL
                                                                 : OTHER;
  }
  closedir(d);
  // The copies first: a new descriptor's number is free, never one of those listed.
  for (int i = 0; i < n; i++)
    if (kinds[i] != OTHER) own_copy(fds[i], kinds[i]);
  for (int i = 0; i < n; i++)
    if (kinds[i] == OTHER) close(fds[i]);
}

// enter_node: zygote_jail.c's steps, keeping the event loop's fds; then what a forked Node needs.
static void enter_node(int n, int *fds, char names[][8]) {
  char err[256];
  if (enter_jail(n, fds, names, close_template_fds, err, sizeof err)) {
    dprintf(2, "runner: cannot enter the jail: %s\n", err);
    _exit(127);
  }
  // The status pipe (fd 3) is the runner's, not for the processes the code starts.
  fcntl(3, F_SETFD, FD_CLOEXEC);
  struct stat sst;
  have_status = fstat(3, &sst) == 0 && S_ISFIFO(sst.st_mode);
  status_dev = sst.st_dev;
  status_ino = sst.st_ino;
  // After seccomp: libuv then finds io_uring denied and keeps to epoll and its thread pool.
  if (uv_loop_fork(uv_default_loop())) fail("uv_loop_fork");
}

// The child's platform: no worker threads. Both are virtual methods of v8::Platform; the slot of each
// in the vtable comes from its pointer to member (Itanium C++ ABI: 1 + the byte offset).
static int NoWorkerThreads(v8::Platform *) { return 0; }
static void DropWorkerTask(v8::Platform *, std::unique_ptr<v8::Task> task) { task.reset(); }
static void DropDelayedWorkerTask(v8::Platform *, std::unique_ptr<v8::Task> task, double) { task.reset(); }

template <typename Member>
static size_t vtable_slot(Member member) {
  uintptr_t raw;
  static_assert(sizeof(member) >= sizeof raw, "a pointer to a virtual member");
  memcpy(&raw, &member, sizeof raw);
  return (raw - 1) / sizeof(void *);
}

static void patch_slot(void **vtable, size_t slot, void *fn) {
  uintptr_t page = reinterpret_cast<uintptr_t>(&vtable[slot]) & ~uintptr_t(4095);
  if (mprotect(reinterpret_cast<void *>(page), 8192, PROT_READ | PROT_WRITE)) fail("mprotect");
  vtable[slot] = fn;
  mprotect(reinterpret_cast<void *>(page), 8192, PROT_READ);
}

static void no_platform_workers(node::Environment *environment) {
  v8::Platform *platform = node::GetMultiIsolatePlatform(environment);
  if (!platform) fail("no platform");
  void **vtable = *reinterpret_cast<void ***>(platform);
  patch_slot(vtable, vtable_slot(&v8::Platform::NumberOfWorkerThreads), reinterpret_cast<void *>(&NoWorkerThreads));
  patch_slot(vtable, vtable_slot(&v8::Platform::CallOnWorkerThread), reinterpret_cast<void *>(&DropWorkerTask));
  patch_slot(vtable, vtable_slot(&v8::Platform::CallDelayedOnWorkerThread),
             reinterpret_cast<void *>(&DropDelayedWorkerTask));
}

// leave ends a child. Node wrote stdout and stderr synchronously: with both closed, the exit code goes
// to the status pipe (when the runner gave one), so the runner answers without waiting for the exit
// itself (unmapping a forked V8 heap, then the template's report), and gets the CPU first.
// Only to that pipe: the code may have closed fd 3 and opened a file of its own there. And without
// blocking: the code may have filled the pipe. The runner then goes by the exit status.
[[noreturn]] static void leave(int code) {
  close(1);
  close(2);
  char b[16];
  int len = snprintf(b, sizeof b, "%d\n", code & 0xff);
  struct stat st;
  if (have_status && fstat(3, &st) == 0 && st.st_dev == status_dev && st.st_ino == status_ino) {
    int flags = fcntl(3, F_GETFL);
    if (flags >= 0 && fcntl(3, F_SETFL, flags | O_NONBLOCK) == 0 && write(3, b, len) == len) sched_yield();
  }
  _exit(code & 0xff);
}

// serve(capLastCap, [nproc, nofile, fsize, core], filter): the template's loop; returns only in a
// forked child, inside its jail.
static napi_value Serve(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t last_cap = -1;
  napi_get_value_int32(env, argv[0], &last_cap);
  static const int limit_ids[4] = {RLIMIT_NPROC, RLIMIT_NOFILE, RLIMIT_FSIZE, RLIMIT_CORE};
  long long pairs[8];
  for (uint32_t i = 0; i < 4; i++) {
    napi_value v;
    double d;
    napi_get_element(env, argv[1], i, &v);
    napi_get_value_double(env, v, &d);
    pairs[2 * i] = limit_ids[i];
    pairs[2 * i + 1] = (long long)d;
  }
  void *bytes;
  size_t blen;
  napi_get_buffer_info(env, argv[2], &bytes, &blen);
  char err[256];
  if (kcr_setup(last_cap, pairs, 4, static_cast<const unsigned char *>(bytes), (int)blen, err, sizeof err)) {
    fprintf(stderr, "runner: the Node template's jail settings were refused: %s\n", err);
    abort();
  }
  // glibc's heap is trimmed once its free top exceeds 128 KiB and grown again with a 128 KiB pad: a
  // child whose heap hovers there (as a run of Node forked from here does) shrinks and grows it a page
  // at a time, a brk call (and TLB flush) for every few frees. A started Node escapes it when its
  // first large free raises the threshold; children of this template never do. Short-lived children
  // can keep a few MiB of free heap.
  mallopt(M_TOP_PAD, 1 << 20);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
  say("{\"ready\":true}");
  serve(make_forkable, enter_node);  // returns in a forked child only
  // Leave through _exit once Node has done its part of process.exit or of an uncaught exception.
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  node::Environment *environment = node::GetCurrentEnvironment(isolate->GetCurrentContext());
  no_platform_workers(environment);
  node::SetProcessExitHandler(environment, [](node::Environment *, int code) { leave(code); });
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

// exit(code): ends a child at once, skipping Node's teardown (see the top).
static napi_value Exit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t code = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_int32(env, argv[0], &code);
  leave(code);
}

// pid(): this process's pid (a child's process.pid would otherwise be the template's, read at its start).
static napi_value Pid(napi_env env, napi_callback_info info) {
  napi_value result;
  napi_create_int32(env, getpid(), &result);
  return result;
}

// pending(fd): whether fd has something to read now (a child forked ahead has no job yet).
static napi_value Pending(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc > 0) napi_get_value_int32(env, argv[0], &fd);
  struct pollfd p = {fd, POLLIN, 0};
  napi_value result;
  napi_get_boolean(env, poll(&p, 1, 0) > 0, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "serve", NAPI_AUTO_LENGTH, Serve, NULL, &f);
  napi_set_named_property(env, exports, "serve", f);
  napi_create_function(env, "exit", NAPI_AUTO_LENGTH, Exit, NULL, &f);
  napi_set_named_property(env, exports, "exit", f);
  napi_create_function(env, "pending", NAPI_AUTO_LENGTH, Pending, NULL, &f);
  napi_set_named_property(env, exports, "pending", f);
  napi_create_function(env, "pid", NAPI_AUTO_LENGTH, Pid, NULL, &f);
  napi_set_named_property(env, exports, "pid", f);
  return exports;
}
