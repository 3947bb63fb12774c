'use strict';
// KubeCodeRun Node shim, loaded with `node -r noderun.js code/code.js`: runs one job exactly like
// `node code.js` would, warm or cold. It writes the ready marker to stdout, reads its job (all of stdin:
// "argv" and the arguments, NUL-separated), appends the arguments to process.argv and returns; Node then
// loads the entry point (written by the runner before it sent the job) as it always does, so
// require.main, stack traces, uncaught exceptions, process.exit and the event loop are those of a
// script started directly.
const fs = require('fs');

// Create the stdio streams now: the first console.log would otherwise spend milliseconds loading them.
process.stdout;
process.stderr;
fs.writeSync(1, '\0kcr-ready\n');

const chunks = [];
const buf = Buffer.alloc(65536);
for (;;) {
  let n;
  try {
    n = fs.readSync(0, buf, 0, buf.length, null);
  } catch (e) {
    if (e.code === 'EAGAIN') continue;
    throw e;
  }
  if (n === 0) break;
  chunks.push(Buffer.from(buf.subarray(0, n)));
}
if (chunks.length === 0) process.exit(0); // the runner went away before sending a job
process.argv.push(...Buffer.concat(chunks).toString('utf8').split('\0').slice(1));
