package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ptcTarget is a runner's API: a classic runner or a jail sandbox.
type ptcTarget func(method, path string, body []byte) (int, []byte)

func classicTarget(tr *testRunner) ptcTarget {
	return func(method, path string, body []byte) (int, []byte) {
		return tr.request(method, path, bytes.NewReader(body))
	}
}

func jailTarget(b *jailBox) ptcTarget {
	return func(method, path string, body []byte) (int, []byte) {
		return b.j.request(method, path, b.token, bytes.NewReader(body))
	}
}

func (p ptcTarget) post(t *testing.T, path string, body any, want int) []byte {
	t.Helper()
	b, _ := json.Marshal(body)
	status, out := p("POST", path, b)
	if status != want {
		t.Fatalf("%s: status %d, want %d: %s", path, status, want, out)
	}
	return out
}

func (p ptcTarget) start(t *testing.T, lang, code string, tools []string, extra map[string]any) ptcReply {
	t.Helper()
	ptc := map[string]any{"tools": tools}
	for k, v := range extra {
		ptc[k] = v
	}
	req := map[string]any{"language": lang, "code": code, "timeout_ms": 20000, "ptc": ptc}
	var r ptcReply
	json.Unmarshal(p.post(t, "/execute", req, http.StatusOK), &r)
	return r
}

func (p ptcTarget) cont(t *testing.T, results []ptcResult) ptcReply {
	t.Helper()
	var r ptcReply
	json.Unmarshal(p.post(t, "/ptc/continue", map[string]any{"tool_results": results}, http.StatusOK), &r)
	return r
}

func (p ptcTarget) final(t *testing.T) result {
	t.Helper()
	for {
		b, _ := json.Marshal(map[string]any{})
		status, out := p("POST", "/ptc/wait", b)
		if status == http.StatusAccepted {
			continue
		}
		if status != http.StatusOK {
			t.Fatalf("/ptc/wait: %d %s", status, out)
		}
		var res result
		json.Unmarshal(out, &res)
		return res
	}
}

func ok(id string, v any) ptcResult {
	b, _ := json.Marshal(v)
	return ptcResult{CallID: id, Result: b}
}

func TestNormalizeToolName(t *testing.T) {
	for _, c := range []struct {
		name string
		bash bool
		want string
	}{
		{"get_number", false, "get_number"},
		{"my-tool name", false, "my_tool_name"},
		{"web.search!", false, "websearch"},
		{"web.search", true, "web_search"},
		{"3d_render", false, "_3d_render"},
		{"class", false, "class_tool"},
		{"import", false, "import_tool"},
		{"done", true, "done_tool"},
		{"class", true, "class"},
		{"fi", true, "fi_tool"},
	} {
		if got := normalizeToolName(c.name, c.bash); got != c.want {
			t.Errorf("normalizeToolName(%q, %v) = %q, want %q", c.name, c.bash, got, c.want)
		}
	}
}

// The protocol on both kinds of runner: a classic one (the Kubernetes pod's) and a jail sandbox.
func TestPTC(t *testing.T) {
	targets := map[string]func(t *testing.T) ptcTarget{
		"classic": func(t *testing.T) ptcTarget { return classicTarget(newRunner(t, runnerOpts{})) },
		"jail": func(t *testing.T) ptcTarget {
			return jailTarget(sharedJail(t).create(t, "py", false))
		},
	}
	for name, target := range targets {
		t.Run(name, func(t *testing.T) {
			t.Run("OneCallThenGatherThenError", func(t *testing.T) { ptcFlow(t, target(t)) })
			t.Run("Bash", func(t *testing.T) { ptcBash(t, target(t)) })
			t.Run("Limits", func(t *testing.T) { ptcLimits(t, target) })
		})
	}
}

func ptcFlow(t *testing.T, p ptcTarget) {
	code := `import asyncio
n = await get_number(x=2)
print("n", n)
a, b, c = await asyncio.gather(my_tool(i=1), my_tool(i=2), class_tool(i=3))
print("gather", a, b, c)
try:
    await my_tool(i=4)
except ToolCallError as e:
    print("error", e)
open("out.txt", "w").write("done")
`
	r := p.start(t, "py", code, []string{"get_number", "my-tool", "class", "_kcr_ptc", "_kcr_asyncio"}, nil)
	if r.Status != "tool_call_required" || len(r.ToolCalls) != 1 || r.ToolCalls[0].Name != "get_number" ||
		string(r.ToolCalls[0].Input) != `{"x":2}` || r.ToolCalls[0].ID != "call_001" {
		t.Fatalf("first batch: %+v", r)
	}
	// A result for another call is stale: 409, and the batch still waits.
	p.post(t, "/ptc/continue", map[string]any{"tool_results": []ptcResult{ok("call_009", 1)}}, http.StatusConflict)
	r = p.cont(t, []ptcResult{ok("call_001", 42)})
	if r.Status != "tool_call_required" || len(r.ToolCalls) != 3 {
		t.Fatalf("gather batch: %+v", r)
	}
	names := []string{r.ToolCalls[0].Name, r.ToolCalls[1].Name, r.ToolCalls[2].Name}
	if strings.Join(names, ",") != "my-tool,my-tool,class" {
		t.Fatalf("gather names: %v", names)
	}
	results := []ptcResult{ok(r.ToolCalls[2].ID, "C"), ok(r.ToolCalls[0].ID, map[string]int{"a": 1}), ok(r.ToolCalls[1].ID, []int{2})}
	r = p.cont(t, results)
	// The same results again: that batch is gone.
	p.post(t, "/ptc/continue", map[string]any{"tool_results": results}, http.StatusConflict)
	if r.Status != "tool_call_required" || len(r.ToolCalls) != 1 {
		t.Fatalf("third batch: %+v", r)
	}
	r = p.cont(t, []ptcResult{{CallID: r.ToolCalls[0].ID, Result: json.RawMessage("null"), IsError: true, ErrorMessage: "no such thing"}})
	if r.Status != "ended" {
		t.Fatalf("end: %+v", r)
	}
	res := p.final(t)
	want := "n 42\ngather {'a': 1} [2] C\nerror no such thing\n"
	if res.ExitCode != 0 || res.Stdout != want || res.PTCEnd != "" || res.PTCRounds != 3 {
		t.Fatalf("final: %s", res)
	}
	if got := changedPaths(res.Files); len(got) != 1 || got[0] != "created out.txt" {
		t.Fatalf("files: %v", got)
	}
	// After the end, results are refused: 410, the run has ended.
	p.post(t, "/ptc/continue", map[string]any{"tool_results": results}, http.StatusGone)
	// Results for another run (a token of an earlier run of a kept sandbox): no such run.
	p.post(t, "/ptc/continue", map[string]any{"run_id": "another-run", "tool_results": results}, http.StatusNotFound)
}

func ptcBash(t *testing.T, p ptcTarget) {
	code := ": &\nwait \"$!\"\nv=$(web_search q=cats n=3)\necho \"got $v\"\nweb_search '{\"q\":\"dogs\"}'\nfail_tool || echo \"failed $?\"\n"
	r := p.start(t, "bash", code, []string{"web.search", "fail-tool"}, nil)
	if r.Status != "tool_call_required" || r.ToolCalls[0].Name != "web.search" || string(r.ToolCalls[0].Input) != `{"q":"cats","n":3}` {
		t.Fatalf("bash first: %+v", r)
	}
	r = p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, "meow")})
	if r.Status != "tool_call_required" || string(r.ToolCalls[0].Input) != `{"q":"dogs"}` {
		t.Fatalf("bash second: %+v", r)
	}
	r = p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, map[string]string{"dog": "woof"})})
	if r.Status != "tool_call_required" || r.ToolCalls[0].Name != "fail-tool" {
		t.Fatalf("bash third: %+v", r)
	}
	r = p.cont(t, []ptcResult{{CallID: r.ToolCalls[0].ID, IsError: true, ErrorMessage: "nope"}})
	res := p.final(t)
	if r.Status != "ended" || res.ExitCode != 0 || res.Stdout != "got meow\n{\"dog\": \"woof\"}\nfailed 1\n" || !strings.Contains(res.Stderr, "fail-tool: nope") {
		t.Fatalf("bash final: %+v %s", r, res)
	}
}

func ptcLimits(t *testing.T, target func(t *testing.T) ptcTarget) {
	t.Run("Unregistered", func(t *testing.T) {
		p := target(t)
		r := p.start(t, "py", "print('before', flush=True)\nawait _kcr_ptc.call('rm_rf', {})\n", []string{"ok"}, nil)
		res := p.final(t)
		if r.Status != "ended" || res.PTCEnd != "unregistered_tool" || res.PTCDetail != "rm_rf" || res.Stdout != "before\n" {
			t.Fatalf("%+v %s", r, res)
		}
	})
	t.Run("RoundTrips", func(t *testing.T) {
		p := target(t)
		r := p.start(t, "py", "for i in range(5):\n    await t(i=i)\n", []string{"t"}, map[string]any{"max_rounds": 2})
		if r.Status != "tool_call_required" {
			t.Fatalf("%+v %s", r, p.final(t))
		}
		r = p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, 1)})
		r = p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, 1)})
		res := p.final(t)
		if r.Status != "ended" || res.PTCEnd != "round_trips" || res.PTCRounds != 2 {
			t.Fatalf("%+v %s", r, res)
		}
	})
	t.Run("SegmentTimeout", func(t *testing.T) {
		p := target(t)
		b, _ := json.Marshal(map[string]any{"language": "py", "code": "await t()\nimport time\ntime.sleep(30)\n",
			"timeout_ms": 1000, "ptc": map[string]any{"tools": []string{"t"}}})
		status, out := p("POST", "/execute", b)
		var r ptcReply
		json.Unmarshal(out, &r)
		if status != 200 || r.Status != "tool_call_required" {
			t.Fatalf("%d %s", status, out)
		}
		r = p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, 1)})
		res := p.final(t)
		if r.Status != "ended" || res.PTCEnd != "timeout" || !res.TimedOut || res.ExitCode != 124 {
			t.Fatalf("%+v %s", r, res)
		}
	})
	t.Run("IdleTimeout", func(t *testing.T) {
		p := target(t)
		r := p.start(t, "py", "await t()\nprint('never')\n", []string{"t"}, map[string]any{"idle_timeout_ms": 300})
		res := p.final(t)
		if r.Status != "tool_call_required" || res.PTCEnd != "idle_timeout" || res.Stdout != "" {
			t.Fatalf("%+v %s", r, res)
		}
		// Results after the idle timeout ended the run: refused, the run has ended.
		p.post(t, "/ptc/continue", map[string]any{"tool_results": []ptcResult{ok(r.ToolCalls[0].ID, 1)}}, http.StatusGone)
	})
	t.Run("EndsWithABatchOut", func(t *testing.T) {
		// The code ends while a call it sent to the background is out (its sleep only gives the call time
		// to get out first): the run's end is its own, and the batch's results then get 410, which the
		// API answers with that end.
		p := target(t)
		r := p.start(t, "bash", "t &\nsleep 1\necho main done\n", []string{"t"}, map[string]any{"run_id": "run-b"})
		if r.Status != "tool_call_required" {
			t.Fatalf("%+v %s", r, p.final(t))
		}
		if res := p.final(t); res.ExitCode != 0 || res.Stdout != "main done\n" || res.PTCEnd != "" {
			t.Fatalf("%s", res)
		}
		p.post(t, "/ptc/continue", map[string]any{"run_id": "run-b", "tool_results": []ptcResult{ok(r.ToolCalls[0].ID, 1)}}, http.StatusGone)
	})
	t.Run("Cancel", func(t *testing.T) {
		p := target(t)
		r := p.start(t, "py", "await t()\nprint('never')\n", []string{"t"}, nil)
		p.post(t, "/ptc/cancel", map[string]any{}, http.StatusNoContent)
		res := p.final(t)
		if r.Status != "tool_call_required" || res.PTCEnd != "cancelled" || res.Stdout != "" {
			t.Fatalf("%+v %s", r, res)
		}
		// The runner serves again.
		if out := p.post(t, "/execute", map[string]any{"language": "py", "code": "print(7)"}, 200); !strings.Contains(string(out), `"stdout":"7\n"`) {
			t.Fatalf("after cancel: %s", out)
		}
	})
	t.Run("CancelBeforeTheRun", func(t *testing.T) {
		// The API's cancel may overtake the /execute of the run it names: the run starts cancelled.
		p := target(t)
		p.post(t, "/ptc/cancel", map[string]any{"run_id": "run-1"}, http.StatusNoContent)
		p.start(t, "py", "await t()\nprint('never')\n", []string{"t"}, map[string]any{"run_id": "run-1", "idle_timeout_ms": 3000})
		if res := p.final(t); res.PTCEnd != "cancelled" || res.Stdout != "" {
			t.Fatalf("%s", res)
		}
		// A cancel naming another run leaves this one be; the next run forgets it.
		p.post(t, "/ptc/cancel", map[string]any{"run_id": "run-1"}, http.StatusNoContent)
		r := p.start(t, "py", "print(await t())\n", []string{"t"}, map[string]any{"run_id": "run-2"})
		p.post(t, "/ptc/cancel", map[string]any{"run_id": "run-1"}, http.StatusNoContent)
		if r.Status != "tool_call_required" {
			t.Fatalf("%+v %s", r, p.final(t))
		}
		p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, "mine")})
		if res := p.final(t); res.PTCEnd != "" || res.Stdout != "mine\n" {
			t.Fatalf("%s", res)
		}
		// A cancel naming the run in progress ends it.
		r = p.start(t, "py", "await t()\nprint('never')\n", []string{"t"}, map[string]any{"run_id": "run-3"})
		if r.Status != "tool_call_required" {
			t.Fatalf("%+v %s", r, p.final(t))
		}
		p.post(t, "/ptc/cancel", map[string]any{"run_id": "run-3"}, http.StatusNoContent)
		if res := p.final(t); res.PTCEnd != "cancelled" || res.Stdout != "" {
			t.Fatalf("%s", res)
		}
		p.post(t, "/ptc/cancel", []int{1}, http.StatusBadRequest)
	})
	t.Run("HostileSocket", func(t *testing.T) {
		// A line over the bound, garbage, and many connections: the runner closes them, the run goes on.
		p := target(t)
		code := `import socket, os
path = _kcr_ptc._path
socks = []
for i in range(100):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path)
        socks.append(s)
    except OSError:
        pass
s = socket.socket(socket.AF_UNIX); s.connect(path)
try:
    s.sendall(b"x" * (3 << 20))
except OSError:
    pass
for s in socks: s.close()
import time
for i in range(100):  # until the runner has seen the closes
    try:
        g = socket.socket(socket.AF_UNIX); g.connect(path); g.sendall(b"garbage\n")
        reply = g.recv(200)
        if reply:
            print("reply", reply[:9])
            break
    except OSError:
        pass
    time.sleep(0.05)
print(await t(a=1))
`
		r := p.start(t, "py", code, []string{"t"}, nil)
		if r.Status != "tool_call_required" {
			t.Fatalf("%+v %s", r, p.final(t))
		}
		r = p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, "fine")})
		if r.Status != "ended" {
			t.Fatalf("%+v %s", r, p.final(t))
		}
		res := p.final(t)
		if res.ExitCode != 0 || res.Stdout != "reply b'{\"error\":'\nfine\n" {
			t.Fatalf("%+v %s", r, res)
		}
	})
}

// A scratch dir deeper than a socket address holds (the test kubelet's pods): both sides go through
// /proc/self/fd.
func TestPTCWithADeepScratchDir(t *testing.T) {
	dir := filepath.Join(testBase, fmt.Sprintf("r%d", nextDir.Add(1)), strings.Repeat("deep/", 20))
	os.MkdirAll(dir, 0o755)
	for d := filepath.Dir(filepath.Clean(dir)); len(d) > len(testBase); d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	args := []string{"--workdir", filepath.Join(dir, "work"), "--scratch", filepath.Join(dir, "scratch")}
	if os.Geteuid() == 0 {
		args = append(args, "--child-uid", strconv.Itoa(70000+int(nextUID.Add(1))))
	}
	p := classicTarget(newRunnerAt(t, args, nil))
	for _, lang := range []string{"py", "bash"} {
		code := "echo_tool"
		if lang == "py" {
			code = "print(await echo_tool())"
		}
		r := p.start(t, lang, code, []string{"echo-tool"}, nil)
		if r.Status != "tool_call_required" {
			t.Fatalf("%s: %+v %s", lang, r, p.final(t))
		}
		p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, "hi")})
		if res := p.final(t); res.ExitCode != 0 || res.Stdout != "hi\n" {
			t.Fatalf("%s: %s", lang, res)
		}
	}
}

// Connections blocked on a batch when the run is killed are let go, and the bytes of their lines
// given back (ptcMaxHeld): nothing of a run outlives it.
func TestPTCKilledRunLeavesNoConnectionBehind(t *testing.T) {
	tr := newRunner(t, runnerOpts{})
	p := classicTarget(tr)
	r := p.start(t, "py", "import asyncio\nawait asyncio.gather(t(), t(), t())\n", []string{"t"}, nil)
	if r.Status != "tool_call_required" || len(r.ToolCalls) != 3 {
		t.Fatalf("%+v", r)
	}
	run := tr.srv.currentPTC()
	p.post(t, "/ptc/cancel", map[string]any{}, http.StatusNoContent)
	if res := p.final(t); res.PTCEnd != "cancelled" {
		t.Fatalf("%s", res)
	}
	if !eventually(5*time.Second, func() bool {
		run.mu.Lock()
		defer run.mu.Unlock()
		return run.conns == 0 && run.held == 0
	}) {
		t.Fatalf("connections still served after the run: %d, holding %d bytes", run.conns, run.held)
	}
}

// The run's connections hold at most ptcMaxHeld of lines at once, not over the run: a batch's bytes
// are given back once its results are in. Six calls of 900 kB, one after the other on the shim's
// one connection, 5.4 MB in all, each get their result.
func TestPTCBatchesGiveBackWhatTheyHeldOnceAnswered(t *testing.T) {
	p := classicTarget(newRunner(t, runnerOpts{}))
	r := p.start(t, "py", "for i in range(6):\n    print(await t(a='x' * 900000))\n", []string{"t"}, nil)
	for i := 0; i < 6; i++ {
		if r.Status != "tool_call_required" || len(r.ToolCalls) != 1 {
			t.Fatalf("call %d: %+v %s", i, r.Status, p.final(t))
		}
		r = p.cont(t, []ptcResult{ok(r.ToolCalls[0].ID, i)})
	}
	if res := p.final(t); r.Status != "ended" || res.ExitCode != 0 || res.Stdout != "0\n1\n2\n3\n4\n5\n" {
		t.Fatalf("%s %.2000s", r.Status, res)
	}
}

func TestPTCCallInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, `{}`},
		{[]string{`{"q": "dogs", "n": [1, 2]}`}, `{"q":"dogs","n":[1,2]}`},
		{[]string{` {"a":1}`}, `{"a":1}`},
		{[]string{"q=cats", "n=3"}, `{"q":"cats","n":3}`},
		{[]string{"a=x", "b=true", "c={\"d\": null}", "e=", "f=a=b", "g=[1", "a=2"}, `{"a":2,"b":true,"c":{"d":null},"e":"","f":"a=b","g":"[1"}`},
		{[]string{"s=\"quoted\"", "u=ünï"}, `{"s":"quoted","u":"ünï"}`},
	} {
		got, err := ptcCallInput(c.args)
		if err != nil || string(got) != c.want {
			t.Errorf("ptcCallInput(%q) = %s, %v; want %s", c.args, got, err, c.want)
		}
	}
	for _, bad := range [][]string{{"novalue"}, {"a=1", "b"}, {`{"a":`}, {"{x}"}} {
		if got, err := ptcCallInput(bad); err == nil {
			t.Errorf("ptcCallInput(%q) = %s, want an error", bad, got)
		}
	}
}

func TestPyJSON(t *testing.T) {
	for raw, want := range map[string]string{
		`{"dog":"woof","n":[1,2]}`: `{"dog": "woof", "n": [1, 2]}`,
		`{"a:b":"x, \"y\":z\\"}`:   `{"a:b": "x, \"y\":z\\"}`,
		`42`:                       `42`,
		`null`:                     `null`,
	} {
		if got := string(pyJSON([]byte(raw))); got != want {
			t.Errorf("pyJSON(%s) = %s, want %s", raw, got, want)
		}
	}
}

// The stub as user code may run it: bad arguments and a socket that is not there fail cleanly.
func TestPTCCallFailures(t *testing.T) {
	var out, errb bytes.Buffer
	if code := callTool([]string{"/nonexistent/ptc.sock", "t"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "t: tool call failed") {
		t.Errorf("no socket: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := callTool([]string{"/nonexistent/ptc.sock", "t", "oops"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "key=value") {
		t.Errorf("bad argument: %d %q", code, errb.String())
	}
	if code := callTool(nil, &out, &errb); code != 2 || out.Len() != 0 {
		t.Errorf("no arguments: %d", code)
	}
}
