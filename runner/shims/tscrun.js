'use strict';
// Runs tsc.js from the code directory (node tscrun.js DIR TSC_JS ARGS...), so that diagnostics name
// code.ts instead of a path relative to the workdir.
const [dir, tsc] = process.argv.splice(2, 2);
process.chdir(dir);
require(tsc);
