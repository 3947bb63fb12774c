'use strict';
// KubeCodeRun Node template ("zygote"), the JavaScript half of nodezygote.cc. The jail server starts it
// as `node --single-threaded --no-wasm-async-compilation --enable-source-maps /tmp/shims/nodezygote.js`
// in a mount namespace that looks like a sandbox, with the children's environment and nothing secret.
// It loads what runs need, then serve() forks one child per job; only children come back from it, each
// already in its jail.
// A child then runs its job like `node code.js args` would: process.argv, require.main, stack traces,
// uncaught exceptions, process.exit and the event loop are Node's own.
const fs = require('fs');
const zygote = require('./kcr_zygote.node');

const spec = JSON.parse(fs.readFileSync(__dirname + '/zygote.json', 'utf8'));
const filter = fs.readFileSync(__dirname + '/seccomp.bpf');
// Modules most programs load, loaded once here instead of in every run. Nothing is started: no stream
// on stdio (the child's fds 0-2 are its own), no thread pool, no random numbers drawn.
for (const m of ['buffer', 'events', 'stream', 'util', 'path', 'url', 'os', 'net', 'tty', 'crypto',
  'child_process', 'string_decoder', 'timers', 'assert', 'readline', 'zlib', 'http', 'https']) {
  require(m);
}
// What every run does first: compile a CommonJS module and format like console.log (into nothing:
// nothing touches stdio or stays behind). Done here, children inherit it compiled instead of parsing
// and compiling it each (forked, that costs copy-on-write faults on top).
const WARM_UP_FILE = require('path').join(require('os').tmpdir(), 'kcr-warm-up.js');
function warmUp() {
  const Module = require('module');
  new Module(WARM_UP_FILE, null)._compile('module.exports = [1, "a", { b: 2 }];\n', WARM_UP_FILE);
  const { Console } = require('console');
  const { Writable } = require('stream');
  new Console(new Writable({ write(chunk, encoding, done) { done(); } })).log('%s', 'warm-up', 1, { a: [1] });
}
// The template also resolves and reads a module from a file once, as a run's main module is.
try {
  const Module = require('module');
  fs.writeFileSync(WARM_UP_FILE, 'module.exports = 1;\n');
  require(WARM_UP_FILE);
  delete require.cache[require.resolve(WARM_UP_FILE)];
  for (const key of Object.keys(Module._pathCache)) {
    if (key.includes('kcr-warm-up')) delete Module._pathCache[key];
  }
  fs.unlinkSync(WARM_UP_FILE);
} catch {
  // Only slower runs.
}
warmUp();
// Children start with the young generation empty: what a run allocates then seldom fills it, and
// V8's scavenge (a few ms in a fork, its pages copied on write) stays out of short runs.
require('v8').setFlagsFromString('--expose-gc');
require('vm').runInNewContext('gc')();
const r = spec.rlimits;
zygote.serve(spec.cap_last_cap, [r.nproc, r.nofile, r.fsize, r.core], filter);

// --- From here on: a forked child, inside its jail. ---
// Node read process.pid once, at the template's start: the child has its own.
Object.defineProperty(process, 'pid', { value: zygote.pid(), writable: false, enumerable: true, configurable: true });
// Math.random's state is the template's in every child: replace it with one drawn from the kernel.
{
  const { randomFillSync } = require('crypto');
  const words = new Uint32Array(512);
  let next = words.length;
  Math.random = function random() {
    if (next >= words.length) {
      randomFillSync(words);
      next = 0;
    }
    const hi = words[next++] >>> 5;
    const lo = words[next++] >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  };
}
// A child forked ahead (a pooled sandbox) waits for its job: meanwhile it warms up once more, so that
// the pages a run writes (the young generation, inline caches) are its own copies before the job
// comes instead of copy-on-write faults during the run.
if (!zygote.pending(4)) {
  warmUp();
}
// The job: {"argv": [code file, args...]} on fd 4.
const chunks = [];
const buf = Buffer.alloc(65536);
for (let n; (n = fs.readSync(4, buf, 0, buf.length, null)) > 0;) {
  chunks.push(Buffer.from(buf.subarray(0, n)));
}
fs.closeSync(4);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8'));
process.argv = [process.argv[0], ...job.argv];
// Node's own teardown would join platform threads the child does not have. When the event loop ends
// on its own or process.exit() is called, leave once 'exit' has been emitted (listeners have run;
// stdio on pipes and files is written synchronously). An uncaught exception emits 'exit' before Node
// reports it: then Node reports it and its exit handler (set by serve) leaves.
let crashing = false;
process.on('uncaughtExceptionMonitor', () => {
  crashing = process.listenerCount('uncaughtException') === 0;
});
const emit = process.emit;
process.emit = function (event, ...args) {
  const result = emit.call(this, event, ...args);
  if (event === 'exit' && !crashing) {
    // Node's exit code is process.exitCode as the listeners left it: one may set it, and Node's own
    // sets 13 for an ES module whose top-level await never settled.
    zygote.exit(process.exitCode ?? args[0] ?? 0);
  }
  return result;
};
require('module').runMain();
