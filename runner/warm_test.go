package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// setWarm turns the warm interpreter of lang on (and waits until it is ready) or off (runs are cold).
func (tr *testRunner) setWarm(lang string, on bool) {
	w := tr.srv.warm[lang]
	if !on {
		w.stop()
		return
	}
	w.mu.Lock()
	w.enabled = true
	w.mu.Unlock()
	go tr.srv.refill(w)
	tr.waitWarm(lang)
}

// runBoth runs code warm, then cold, on the same runner (so paths are equal), then directly with the
// interpreter on the same file, and returns the three results.
func (tr *testRunner) runBoth(lang, code string, args []string, direct ...string) (warm, cold, ref result) {
	tr.t.Helper()
	req := map[string]any{"language": lang, "code": code, "args": args, "timeout_ms": 30000}
	tr.setWarm(lang, true)
	before := tr.srv.warmRuns.Load()
	warm = tr.execute(req)
	if tr.srv.warmRuns.Load() != before+1 {
		tr.t.Fatalf("the warm %s interpreter was not used", lang)
	}
	tr.setWarm(lang, false)
	cold = tr.execute(req)
	// The code file of the cold run is still in place: run it the plain way.
	argv := append(append(direct, tr.srv.child(dirCode, languages[lang].file)), args...)
	ref.Stdout, ref.Stderr, ref.ExitCode = runDirect(tr.t, tr.work, tr.srv.env, argv...)
	return warm, cold, ref
}

func TestWarmPythonBehavesLikePython(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "py"}})
	cases := map[string]string{
		"print":      "print('hello')\nprint('no newline', end='')\n",
		"traceback":  "import json\n\n\ndef parse(text):\n    return json.loads(text)\n\n\nparse('{bad')\n",
		"chained":    "try:\n    1 / 0\nexcept ZeroDivisionError:\n    raise ValueError('wrapped')\n",
		"syntax":     "print('a'\n",
		"exit 3":     "import sys\nprint('before')\nsys.exit(3)\n",
		"exit msg":   "import sys\nsys.exit('fatal: message')\n",
		"exit None":  "raise SystemExit\n",
		"name":       "import sys\nprint(__name__, __file__ == sys.argv[0], sys.argv[1:], __doc__)\nif __name__ == '__main__':\n    print('main guard')\n",
		"docstring":  "'''module doc'''\nprint(__doc__)\n",
		"atexit":     "import atexit\natexit.register(lambda: print('bye'))\nprint('hi')\n",
		"atexit+exc": "import atexit\natexit.register(lambda: print('cleanup'))\nraise RuntimeError('boom')\n",
		"order":      "import sys\nfor i in range(3):\n    print(i)\n    print('err', i, file=sys.stderr)\n",
		"stdin":      "try:\n    input()\nexcept EOFError:\n    print('eof')\n",
		"thread":     "import threading, time\n\ndef work():\n    time.sleep(0.2)\n    print('thread done')\n\nthreading.Thread(target=work).start()\nprint('main done')\n",
		"unflushed":  "f = open('unflushed.txt', 'w')\nf.write('data')\nprint(open('unflushed.txt').read() == '')\n",
		"modules":    "import sys\nprint(sys.path[0] == __file__.rsplit('/', 1)[0])\n",
		"interrupt":  "raise KeyboardInterrupt\n",
		"fork":       "import os, time\npid = os.fork()\nif pid == 0:\n    print('child')\nelse:\n    os.waitpid(pid, 0)\n    time.sleep(0.05)\n    print('parent')\n",
		"os patched": "import os\nos._exit = os.close = None\nprint('patched')\n",
	}
	for name, code := range cases {
		warm, cold, ref := tr.runBoth("py", code, []string{"arg1", "arg 2"}, "/usr/bin/python3")
		for _, r := range []struct {
			kind string
			res  result
		}{{"warm", warm}, {"cold", cold}} {
			if r.res.ExitCode != ref.ExitCode || r.res.Stdout != ref.Stdout || r.res.Stderr != ref.Stderr {
				t.Errorf("%s: %s run differs from python3 code.py\n--- python3: exit %d\nstdout %q\nstderr %q\n--- %s: exit %d\nstdout %q\nstderr %q",
					name, r.kind, ref.ExitCode, ref.Stdout, ref.Stderr, r.kind, r.res.ExitCode, r.res.Stdout, r.res.Stderr)
			}
		}
		if name == "unflushed" {
			if b, _ := os.ReadFile(filepath.Join(tr.work, "unflushed.txt")); string(b) != "data" {
				t.Errorf("a file left open was not flushed at exit: %q", b)
			}
		}
	}
	// Spot checks, so that the comparison cannot pass by being empty.
	warm, _, _ := tr.runBoth("py", cases["traceback"], nil, "/usr/bin/python3")
	if !strings.Contains(warm.Stderr, "code.py\", line 8, in <module>\n    parse('{bad')\n") || strings.Contains(warm.Stderr, "pyrun") {
		t.Errorf("traceback must name code.py with its line numbers and no shim frame:\n%s", warm.Stderr)
	}
	warm, _, _ = tr.runBoth("py", cases["exit msg"], nil, "/usr/bin/python3")
	if warm.ExitCode != 1 || warm.Stderr != "fatal: message\n" {
		t.Errorf("sys.exit(msg): %s", warm)
	}
}

func TestWarmNodeBehavesLikeNode(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "js"}})
	cases := map[string]string{
		"print":     "console.log('hello');\nconsole.error('to stderr');\n",
		"throw":     "function inner() {\n  throw new TypeError('bad type');\n}\nfunction outer() { inner(); }\nouter();\n",
		"exit 3":    "console.log('before');\nprocess.exit(3);\n",
		"exitCode":  "process.exitCode = 4;\nconsole.log('set');\n",
		"main":      "console.log(require.main === module, __filename === process.argv[1], process.argv.slice(2));\n",
		"rejection": "Promise.reject(new Error('rejected'));\n",
		"exit hook": "process.on('exit', (c) => console.log('exiting', c));\nconsole.log('hi');\n",
		"async":     "setTimeout(() => console.log('timeout'), 20);\nPromise.resolve().then(() => console.log('micro'));\nprocess.nextTick(() => console.log('tick'));\nconsole.log('sync');\n",
		"syntax":    "let x = ;\n",
		"stdin":     "process.stdin.on('data', (d) => console.log('data', d.length)).on('end', () => console.log('end'));\n",
	}
	for name, code := range cases {
		warm, cold, ref := tr.runBoth("js", code, []string{"arg1", "arg 2"}, tr.srv.cfg.Tools["NODE"])
		for _, r := range []struct {
			kind string
			res  result
		}{{"warm", warm}, {"cold", cold}} {
			if r.res.ExitCode != ref.ExitCode || r.res.Stdout != ref.Stdout || r.res.Stderr != ref.Stderr {
				t.Errorf("%s: %s run differs from node code.js\n--- node: exit %d\nstdout %q\nstderr %q\n--- %s: exit %d\nstdout %q\nstderr %q",
					name, r.kind, ref.ExitCode, ref.Stdout, ref.Stderr, r.kind, r.res.ExitCode, r.res.Stdout, r.res.Stderr)
			}
		}
	}
	warm, _, _ := tr.runBoth("js", cases["throw"], nil, tr.srv.cfg.Tools["NODE"])
	if warm.ExitCode != 1 || !strings.Contains(warm.Stderr, "code.js:2\n  throw new TypeError('bad type');\n") || !strings.Contains(warm.Stderr, "at inner (") || strings.Contains(warm.Stderr, "noderun") {
		t.Errorf("uncaught exception: %s", warm)
	}
}

func TestWarmInterpreterIsReplacedAfterUse(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "py"}, env: map[string]string{"RUNNER_PY_PRELOAD": "json,nonexistent_module"}})
	for i := 0; i < 3; i++ {
		tr.waitWarm("py")
		res := tr.run("py", "import sys\nprint('json' in sys.modules, 'nonexistent_module' in sys.modules)")
		if res.Stdout != "True False\n" {
			t.Fatalf("run %d: want a warm interpreter with json pre-imported, got %s", i, res)
		}
	}
	if got := tr.srv.warmRuns.Load(); got != 3 {
		t.Errorf("%d warm runs, want 3", got)
	}
}

// A single-use runner (a pool pod) serves one run: the warm Python's output arrives whole although
// the drains end once the pipes are empty (the shim reports before its exit), and no interpreter is
// warmed again afterwards.
func TestSingleUseWarmPythonIsNotReplaced(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "py", "--single-use"}})
	tr.waitWarm("py")
	res := tr.run("py", "import sys\nfor i in range(4000):\n    print('%05d' % i + 'x' * 44)\nsys.stderr.write('e' * 100000)\nprint('end')\n")
	if res.ExitCode != 0 || len(res.Stdout) != 4000*50+4 || !strings.HasSuffix(res.Stdout, "03999"+strings.Repeat("x", 44)+"\nend\n") {
		t.Fatalf("stdout of the warm run is incomplete: %d bytes, exit %d", len(res.Stdout), res.ExitCode)
	}
	if len(res.Stderr) != 100000 {
		t.Fatalf("stderr of the warm run is incomplete: %d bytes", len(res.Stderr))
	}
	if tr.srv.warmRuns.Load() != 1 {
		t.Fatalf("the warm interpreter was not used")
	}
	// Settled before the answer: the slot is stopped, so no refill can warm it later either.
	w := tr.srv.warm["py"]
	w.mu.Lock()
	rewarmed, enabled := w.sh != nil, w.enabled
	w.mu.Unlock()
	if rewarmed || enabled {
		t.Errorf("a single-use runner warmed another interpreter after its run (or can still: %v)", enabled)
	}
}

func TestColdFallbackWhenTheWarmInterpreterDied(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "py"}, env: map[string]string{"RUNNER_PY_PRELOAD": "json"}})
	tr.waitWarm("py")
	w := tr.srv.warm["py"]
	w.mu.Lock()
	w.sh.p.kill()
	<-w.sh.p.done
	w.mu.Unlock()
	res := tr.run("py", "print('still works')")
	if res.ExitCode != 0 || res.Stdout != "still works\n" {
		t.Fatalf("want a cold run after the warm interpreter died, got %s", res)
	}
	if tr.srv.warmRuns.Load() != 0 {
		t.Errorf("a dead warm interpreter was used")
	}
	tr.waitWarm("py") // and a new one is started
}

// Modules uploaded after the warm interpreter started are importable (the workdir is on sys.path).
func TestWarmPythonImportsUploadedModules(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "py"}, env: map[string]string{"RUNNER_PY_PRELOAD": "json"}})
	tr.waitWarm("py")
	tr.put("helper.py", "def f():\n    return 'helper ok'\n")
	res := tr.run("py", "import helper\nprint(helper.f())")
	if res.Stdout != "helper ok\n" || tr.srv.warmRuns.Load() != 1 {
		t.Errorf("want the uploaded module imported by the warm interpreter, got %s", res)
	}
}
