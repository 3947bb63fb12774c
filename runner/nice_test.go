package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// niceOf reads a process's nice value (field 19 of /proc/PID/stat).
func niceOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The command name may hold spaces: fields count from after its closing parenthesis.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	n, err := strconv.Atoi(fields[16])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWarmInterpretersWaitNicedAndRunAtNormalPriority(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only root can give a process its priority back")
	}
	for _, lang := range []string{"py", "js"} {
		t.Run(lang, func(t *testing.T) {
			tr := newRunner(t, runnerOpts{args: []string{"--warm", lang, "--warm-nice", "10"}})
			tr.waitWarm(lang)
			slot := tr.srv.warm[lang]
			slot.mu.Lock()
			pid := slot.sh.p.pid
			slot.mu.Unlock()
			if got := niceOf(t, pid); got != 10 {
				t.Fatalf("waiting warm %s interpreter: nice %d, want 10", lang, got)
			}
			code := map[string]string{
				"py": "import os\nprint(os.nice(0))",
				"js": "const os = require('os'); console.log(os.getPriority())",
			}[lang]
			res := tr.execute(map[string]any{"language": lang, "code": code, "timeout_ms": 10000})
			if res.Stdout != "0\n" {
				t.Fatalf("the run's priority: %s", res)
			}
		})
	}
}

func TestWithoutWarmNiceWarmInterpretersKeepTheRunnersPriority(t *testing.T) {
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "py"}})
	tr.waitWarm("py")
	slot := tr.srv.warm["py"]
	slot.mu.Lock()
	pid := slot.sh.p.pid
	slot.mu.Unlock()
	if got, want := niceOf(t, pid), niceOf(t, os.Getpid()); got != want {
		t.Fatalf("warm interpreter nice %d, runner %d", got, want)
	}
}

func TestWithNiceGoesAmongTheChildArguments(t *testing.T) {
	got := withNice([]string{"runner", "__child", "nproc=1", "--", "bwrap", "--", "python3"}, 7)
	want := "runner __child nproc=1 nice=7 -- bwrap -- python3"
	if strings.Join(got, " ") != want {
		t.Fatalf("got %q", got)
	}
}
