package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// capture runs code with capture_state and returns the result; state is restored first when given.
func (tr *testRunner) withState(code, state string) result {
	tr.t.Helper()
	return tr.execute(map[string]any{"language": "py", "code": code, "state": state, "capture_state": true, "timeout_ms": 30000})
}

func TestPythonStateRoundTrip(t *testing.T) {
	t.Parallel()
	for _, warm := range []bool{true, false} {
		name := map[bool]string{true: "warm", false: "cold"}[warm]
		t.Run(name, func(t *testing.T) {
			var opts runnerOpts
			if warm {
				opts.args = []string{"--warm", "py"}
			}
			tr := newRunner(t, opts)
			wait := func() {
				if warm {
					tr.waitWarm("py")
				}
			}
			wait()
			res := tr.withState("import pandas as pd\nx = 42\ndf = pd.DataFrame({'a': [1, 2, 3]})\nf = lambda v: v + 1\n"+
				"class Point:\n    def __init__(self, x):\n        self.x = x\np = Point(7)\n", "")
			if res.ExitCode != 0 || res.State == "" || len(res.StateErrors) != 0 {
				t.Fatalf("capture: %s", res)
			}
			raw, _ := base64.StdEncoding.DecodeString(res.State)
			if raw[0] != 0x02 {
				t.Errorf("state version byte %#x, want 0x02", raw[0])
			}
			wait()
			res = tr.withState("print(x, df['a'].sum(), f(41), p.x)\nx += 1\n", res.State)
			if res.Stdout != "42 6 42 7\n" {
				t.Fatalf("restore: want \"42 6 42 7\", got %s", res)
			}
			wait()
			if res = tr.withState("print(x)", res.State); res.Stdout != "43\n" {
				t.Errorf("second round trip: %s", res)
			}
		})
	}
}

func TestPythonStateSkipsWhatItCannotKeep(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	res := tr.withState("import math, json as j\n_private = 1\nkept = 'yes'\nfh = open('data.txt', 'w')\n", "")
	if len(res.StateErrors) != 1 || !strings.HasPrefix(res.StateErrors[0], "Cannot serialize 'fh' (TextIOWrapper): ") {
		t.Fatalf("want one error naming the open file, got %q", res.StateErrors)
	}
	res = tr.withState("print(sorted(k for k in globals() if not k.startswith('__')))", res.State)
	if res.Stdout != "['kept']\n" {
		t.Errorf("want only 'kept' restored (no modules, no _names, no file), got %s", res)
	}
}

func TestPythonStateAfterExitAndErrors(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	res := tr.withState("import sys\nz = 5\nsys.exit(2)\n", "")
	if res.ExitCode != 2 || res.State == "" {
		t.Fatalf("sys.exit must still capture: %s", res)
	}
	if res = tr.withState("print(z)\nraise ValueError('late')\n", res.State); res.Stdout != "5\n" || res.ExitCode != 1 || res.State == "" {
		t.Errorf("an uncaught exception must still capture: %s", res)
	}
	// Nothing to keep: no state at all.
	if res = tr.withState("pass", ""); res.State != "" || len(res.StateErrors) != 0 {
		t.Errorf("empty namespace: want no state, got %s", res)
	}
	// Without capture_state nothing is returned.
	if res = tr.run("py", "x = 1"); res.State != "" || res.StateErrors != nil {
		t.Errorf("no capture asked: %s", res)
	}
	// Unreadable state is reported, the code still runs.
	bad := base64.StdEncoding.EncodeToString([]byte{0x02, 1, 2, 3})
	if res = tr.withState("print('ran')", bad); res.Stdout != "ran\n" || len(res.StateErrors) != 1 || !strings.HasPrefix(res.StateErrors[0], "Cannot restore state") {
		t.Errorf("corrupt state: %s", res)
	}
}

// The caller's max_state_bytes bounds the state an answer carries: a state of exactly that size is
// sent, one a byte over is not, and a state error says why, with both sizes.
func TestPythonStateOverTheCallersLimitIsNotSent(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	// 1 MiB of seeded random bytes: the same state, of the same size, every run.
	code := "import random\nrandom.seed(1)\nx = random.randbytes(1 << 20)\nprint('made')"
	run := func(limit int) result {
		return tr.execute(map[string]any{"language": "py", "code": code, "capture_state": true, "timeout_ms": 30000, "max_state_bytes": limit})
	}
	whole := run(0) // 0: the runner's own bound, 64 MiB
	raw, err := base64.StdEncoding.DecodeString(whole.State)
	if err != nil || len(raw) < 1<<20 || len(whole.StateErrors) != 0 {
		t.Fatalf("without a limit: want the whole state, got %d bytes (%v): %s", len(raw), err, whole)
	}
	if kept := run(len(raw)); kept.State != whole.State || len(kept.StateErrors) != 0 {
		t.Errorf("a state as large as the limit must be sent: got %d bytes of base64, errors %q", len(kept.State), kept.StateErrors)
	}
	over := run(len(raw) - 1)
	if over.State != "" || over.Stdout != "made\n" || over.ExitCode != 0 {
		t.Errorf("a state a byte over the limit must not be sent, the run's answer must: %d bytes of base64, exit %d, stdout %q, stderr %q",
			len(over.State), over.ExitCode, over.Stdout, over.Stderr)
	}
	want := "the Python state (1.1 MiB) is larger than the 1.0 MiB this deployment keeps"
	if len(over.StateErrors) != 1 || over.StateErrors[0] != want {
		t.Errorf("want the state error %q, got %q", want, over.StateErrors)
	}
}

func TestPythonStateVersion1(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	// Version 0x01 is a raw cloudpickle dump.
	res := tr.run("py", "import base64, cloudpickle\nprint(base64.b64encode(b'\\x01' + cloudpickle.dumps({'v': 7})).decode())")
	state := strings.TrimSpace(res.Stdout)
	if res = tr.withState("print(v)", state); res.Stdout != "7\n" {
		t.Errorf("version 1 state: %s", res)
	}
}

func TestMatplotlibFontListIsSeededSoWarmPythonDoesNotRebuildIt(t *testing.T) {
	seed := t.TempDir()
	os.WriteFile(filepath.Join(seed, "fontlist-v999.json"), []byte(`{"seeded":true}`), 0o644)
	tr := newRunner(t, runnerOpts{env: map[string]string{"RUNNER_MPL_CACHE_SEED": seed}})
	r := tr.run("py", "import os\nprint(open(os.path.join(os.environ['MPLCONFIGDIR'], 'fontlist-v999.json')).read())")
	if r.Stdout != "{\"seeded\":true}\n" {
		t.Fatalf("seeded font list not visible to the child: %v", r)
	}
}

// The answer streams stdout, stderr and the state (from its file): its bytes are those writeJSON
// gives with all in memory, whatever the fields hold (here stdout quoting the marker, and every kind
// of character cut anywhere between the pieces stdout is encoded in).
func TestTheStreamedAnswerIsTheSameJSON(t *testing.T) {
	var odd strings.Builder
	for odd.Len() < 200_000 {
		odd.WriteString("a\x01\n\t\"\\<>&é数😀\u2028\u2029\xff\xe6\x95\xf0\x9f\x98\x80\x80\x80\x80\x80\xc3")
	}
	for _, size := range []int{0, 1, 2, 3, 1000, 100_000} {
		state := make([]byte, size)
		for i := range state {
			state[i] = byte(i * 7)
		}
		f, err := os.Create(filepath.Join(t.TempDir(), "out.bin"))
		if err != nil {
			t.Fatal(err)
		}
		f.Write(state)
		f.Seek(0, 0)
		sig := "SIGKILL"
		resp := &execResponse{ExitCode: 137, Signal: &sig, Stdout: `"stderr":"` + answerMarker + `" <&> ` + odd.String()[size%17:],
			Stderr: odd.String()[size%5:] + `"state":"` + answerMarker + `"`, DurationMS: 1.5, StateErrors: []string{"Cannot serialize 'f'"},
			Files: []fileChange{{Path: "a.txt", Ref: "a.txt", Size: 1, Mtime: 2, Change: "created"}}, Deleted: []string{}}
		streamed := httptest.NewRecorder()
		if size > 0 {
			resp.stateFile, resp.stateSize = f, int64(size)
		}
		writeAnswer(streamed, resp)
		f.Close()
		inMemory := httptest.NewRecorder()
		resp.stateFile, resp.State = nil, base64.StdEncoding.EncodeToString(state)
		writeJSON(inMemory, http.StatusOK, resp)
		if streamed.Code != http.StatusOK || streamed.Body.String() != inMemory.Body.String() ||
			streamed.Header().Get("Content-Type") != "application/json" {
			a, b := streamed.Body.String(), inMemory.Body.String()
			i := 0
			for i < min(len(a), len(b)) && a[i] == b[i] {
				i++
			}
			t.Errorf("%d bytes of state: %d, %d bytes, want %d; from byte %d: %.200q, want %.200q", size, streamed.Code, len(a), len(b), i, a[i:], b[i:])
		}
	}
}

// The state errors are read one at a time, within bounds: what user code writes there cannot cost the
// runner more than a few times 64 KiB.
func TestStateErrorsAreBounded(t *testing.T) {
	list := func(items ...string) string {
		b, _ := json.Marshal(items)
		return string(b)
	}
	many := make([]string, 150)
	for i := range many {
		many[i] = fmt.Sprintf("Cannot serialize 'v%d' (generator): cannot pickle", i)
	}
	long := strings.Repeat("é", 1000)
	cases := []struct {
		name, file string
		want       []string
	}{
		{"as the shim writes them", list("Cannot serialize 'f' (TextIOWrapper): x", "Cannot restore state: y"),
			[]string{"Cannot serialize 'f' (TextIOWrapper): x", "Cannot restore state: y"}},
		{"none", "[]", nil},
		{"too many", list(many...), append(many[:100:100], "runner: more state errors not shown (at most 100)")},
		{"one too long", list(long), []string{strings.Repeat("é", 512) + "..."}},
		{"past 64 KiB", "[" + strings.Repeat(`"x",`, 20000) + `"x"]`,
			append(slices.Repeat([]string{"x"}, 100), "runner: more state errors not shown (at most 100)")},
		{"one string past 64 KiB", `["` + strings.Repeat("x", 70000) + `"]`,
			[]string{"runner: more state errors not shown (only the first 64 KiB of them are read)"}},
		{"not a list", `{"a":1}`, []string{"runner: unreadable state errors: not a JSON list"}},
		{"not strings", `["a", 3]`, []string{"a", "runner: unreadable state errors: json: cannot unmarshal number into Go value of type string"}},
		{"cut short", `["a", "b"`, []string{"a", "b", "runner: unreadable state errors: EOF"}},
	}
	for _, c := range cases {
		got := decodeStateErrors(strings.NewReader(c.file), int64(len(c.file)))
		if strings.Join(got, "|") != strings.Join(c.want, "|") || len(got) != len(c.want) {
			t.Errorf("%s: got %.500q, want %.500q", c.name, got, c.want)
		}
	}
}

// stdout and stderr are encoded a piece at a time: wherever a piece ends (here at every offset of a
// pattern of every kind of character, valid or not), the bytes are those of the whole.
func TestAStringEncodedAPieceAtATimeIsEncodedAsAWhole(t *testing.T) {
	pattern := "a\x01\n\t\"\\<>&é数😀\u2028\u2029\xff\xe6\x95\xf0\x9f\x98\x80\x80\x80\x80\x80\xc3\xed\xa0\x80"
	long := strings.Repeat(pattern, 100_000/len(pattern)+1)
	for off := 0; off < len(pattern); off++ {
		s := long[off:]
		var whole, pieces strings.Builder
		enc := json.NewEncoder(&whole)
		enc.SetEscapeHTML(false)
		enc.Encode(s)
		if err := writeJSONString(&pieces, s); err != nil || `"`+pieces.String()+`"`+"\n" != whole.String() {
			t.Fatalf("from offset %d: the pieces differ from the whole (%v)", off, err)
		}
	}
}

// A state file that got shorter than it was when opened cuts the answer short: never valid JSON
// with a wrong state in it.
func TestAStateThatShrankCutsTheAnswerShort(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Write([]byte("0123456789"))
	f.Seek(0, 0)
	rec := httptest.NewRecorder()
	writeAnswer(rec, &execResponse{Stdout: "out", Deleted: []string{}, stateFile: f, stateSize: 20})
	var v map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err == nil || !strings.Contains(rec.Body.String(), `"state":"MDEyMzQ1Njc4`) ||
		strings.HasSuffix(rec.Body.String(), "}\n") {
		t.Errorf("want the answer cut short in the state, got %q", rec.Body.String())
	}
}
