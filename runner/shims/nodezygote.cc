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

static void make_forkable(void) {
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

// close_template_fds closes every descriptor above the slots that belongs to the template or reaches
// outside the sandbox (sockets, pidfds, namespaces, files, directories); it keeps the child's own
// event loop plumbing (pipes, eventfd, epoll, io_uring), which uv_loop_fork re-creates.
static void close_template_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) fail("listing /proc/self/fd");
  int dfd = dirfd(d);
  struct dirent *e;
  int doomed[1024], n = 0;
  while ((e = readdir(d)) && n < 1024) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd <= 4 || fd == dfd) continue;
    char path[64], target[256];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(path, target, sizeof target - 1);
    target[len > 0 ? len : 0] = 0;
    if (strncmp(target, "pipe:", 5) == 0 || strcmp(target, "anon_inode:[eventfd]") == 0 ||
        strcmp(target, "anon_inode:[eventpoll]") == 0 || strcmp(target, "anon_inode:[io_uring]") == 0)
      continue;
    doomed[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) close(doomed[i]);
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
