package main

import (
	"testing"
)

// The status pipe (fd 3 of a Python shim and of a forked Node run) carries the run's exit code before
// the process has finished exiting. The code runs in the same process and can do anything with fd 3:
// the shim writes the status only to the pipe it was given, never to what the code left on fd 3, and
// the runner falls back to the process's exit status when no status comes.

// statusTakeoverPy closes the status pipe and opens a file of its own, which gets fd 3.
const statusTakeoverPy = `import os
os.close(3)
fd = os.open("mine.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"mine\n")
print(fd)
raise SystemExit(5)
`

// statusFillPy fills the status pipe with no status line: the runner stops reading a pipe that does not
// start with a status, and the shim's write must then not block on it.
const statusFillPy = `import os
os.set_blocking(3, False)
try:
    while True:
        os.write(3, b"x" * 4096)
except BlockingIOError:
    pass
os.set_blocking(3, True)
`

// statusFullPipePy puts a pipe of its own on fd 3 and fills it: a blocking write there never ends.
const statusFullPipePy = `import os, sys
r, w = os.pipe()
os.dup2(w, 3)
` + statusFillPy + `print("full")
sys.exit(6)
`

const statusGarbagePy = statusFillPy + `print("garbage")
raise SystemExit(7)
`

// statusEarlyPy reports a status and goes on: the status is the program's word, like its exit code, so
// the run ends there with that code (as os._exit would end it), and nothing of it keeps running.
const statusEarlyPy = `import os, time
print("before", flush=True)
os.write(3, b"9\n")
while True:
    with open("after.txt", "a") as f:
        f.write("x")
    time.sleep(0.005)
`

// stillGrowsPy prints whether after.txt grows while it watches.
const stillGrowsPy = `import os, time
def size():
    try:
        return os.path.getsize("after.txt")
    except OSError:
        return -1
a = size()
time.sleep(0.3)
print("grows" if size() != a else "still")
`

// checkStatusTakeover runs the fd 3 cases through run (the classic runner or a jailed sandbox) and
// reads files back with py.
func checkStatusTakeover(t *testing.T, run func(lang, code string, timeoutMS int) result, py func(code string) string) {
	t.Helper()
	res := run("py", statusTakeoverPy, 60000)
	if res.ExitCode != 5 || res.Stdout != "3\n" || res.TimedOut {
		t.Errorf("a run that opened a file on fd 3: %s", res)
	}
	if got := py("print(repr(open('mine.txt').read()))"); got != "'mine\\n'\n" {
		t.Errorf("the shim wrote into the code's own file on fd 3: %s", got)
	}
	// A hang would end as a timeout (exit code 124): 10 s is plenty for a run that exits at once.
	res = run("py", statusFullPipePy, 10000)
	if res.ExitCode != 6 || res.Stdout != "full\n" || res.TimedOut {
		t.Errorf("a run that left a full pipe of its own on fd 3: %s", res)
	}
	res = run("py", statusGarbagePy, 10000)
	if res.ExitCode != 7 || res.Stdout != "garbage\n" || res.TimedOut {
		t.Errorf("a run that filled the status pipe with garbage: %s", res)
	}
	// No exit code is out of 0-255: such a line is not a status, the run's own exit code counts.
	res = run("py", "import os\nos.write(3, b\"999\\n\")\nprint(\"out of range\")\nraise SystemExit(8)\n", 10000)
	if res.ExitCode != 8 || res.Stdout != "out of range\n" || res.TimedOut {
		t.Errorf("a run that wrote an exit code out of range to its status pipe: %s", res)
	}
	res = run("py", statusEarlyPy, 10000)
	if res.ExitCode != 9 || res.Stdout != "before\n" || res.TimedOut {
		t.Errorf("a run that reported a status and went on: %s", res)
	}
	if got := py(stillGrowsPy); got != "still\n" {
		t.Errorf("a run that reported a status early went on after its end: %s", got)
	}
}

func TestStatusPipeTakenOverByTheCode(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	run := func(lang, code string, timeoutMS int) result {
		return tr.execute(map[string]any{"language": lang, "code": code, "timeout_ms": timeoutMS})
	}
	py := func(code string) string {
		res := tr.run("py", code)
		if res.ExitCode != 0 {
			t.Fatalf("py failed: %s", res)
		}
		return res.Stdout
	}
	checkStatusTakeover(t, run, py)
}

func TestJailStatusPipeTakenOverByTheCode(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	b := j.create(t, "py", true)
	run := func(lang, code string, timeoutMS int) result {
		return b.execute(map[string]any{"language": lang, "code": code, "timeout_ms": timeoutMS})
	}
	checkStatusTakeover(t, run, b.py)
}

func TestJailNodeStatusPipeTakenOverByTheCode(t *testing.T) {
	t.Parallel()
	j := sharedJail(t)
	// Until the template is ready, js runs start a Node each (no status pipe; fd 3 is its event loop's).
	j.waitNodeTemplate(t)
	b := j.create(t, "js", true)
	run := func(code string, timeoutMS int) result {
		return b.execute(map[string]any{"language": "js", "code": code, "timeout_ms": timeoutMS})
	}
	// Through the end of the event loop, then through process.exit.
	for _, exit := range []string{"process.exitCode = 5;", "process.exit(5);"} {
		res := run(`const fs = require('fs');
fs.closeSync(3);
const fd = fs.openSync('mine.txt', 'w');
fs.writeSync(fd, 'mine\n');
console.log(fd);
`+exit, 60000)
		if res.ExitCode != 5 || res.Stdout != "3\n" || res.TimedOut {
			t.Errorf("a run that opened a file on fd 3 (%s): %s", exit, res)
		}
		if got := b.py("print(repr(open('mine.txt').read()))"); got != "'mine\\n'\n" {
			t.Errorf("the Node child wrote into the code's own file on fd 3 (%s): %s", exit, got)
		}
	}
	// Node's own writes to fd 3 would block: a Python program it starts with fd 3 fills the status pipe,
	// as statusGarbagePy does.
	res := run("const fill = `"+statusFillPy+"`;\n"+
		`require('child_process').spawnSync('python3', ['-c', fill], { stdio: ['ignore', 'inherit', 'inherit', 3] });
console.log('garbage');
process.exitCode = 7;
`, 10000)
	if res.ExitCode != 7 || res.Stdout != "garbage\n" || res.TimedOut {
		t.Errorf("a run that filled the status pipe with garbage: %s", res)
	}
	res = run(`const fs = require('fs');
console.log('before');
fs.writeSync(3, '9\n');
setInterval(() => fs.appendFileSync('after.txt', 'x'), 5);
`, 10000)
	if res.ExitCode != 9 || res.Stdout != "before\n" || res.TimedOut {
		t.Errorf("a run that reported a status and went on: %s", res)
	}
	if got := b.py(stillGrowsPy); got != "still\n" {
		t.Errorf("a run that reported a status early went on after its end: %s", got)
	}
}
