package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestConfigDefaultsAndEnvironment(t *testing.T) {
	c, err := parseConfig(nil, envOf(map[string]string{"RUNNER_TOKEN": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "0.0.0.0:8080" || c.Workdir != "/mnt/data" || c.Scratch != "/tmp/kcr" || c.ChildWorkdir != "/mnt/data" ||
		c.ChildScratch != "/tmp/kcr" || !c.Warm["py"] || !c.Warm["js"] || c.MaxOutput != 1048576 ||
		c.MaxTimeout != 300*time.Second || c.MaxProcs != 256 || c.MaxOpenFiles != 1024 || c.MaxFileSize != 104857600 || c.MaxMemory != 0 ||
		!reflect.DeepEqual(c.PyPreload, []string{"numpy", "pandas", "matplotlib"}) {
		t.Errorf("defaults: %+v", c)
	}
	wantUID := -1
	if os.Geteuid() == 0 {
		wantUID = sandboxUID // root: children drop to the sandbox user
	}
	if c.ChildUID != wantUID || c.ChildGID != wantUID {
		t.Errorf("child uid/gid %d/%d, want %d", c.ChildUID, c.ChildGID, wantUID)
	}

	c, err = parseConfig([]string{"--listen", "127.0.0.1:9", "--max-output", "5"}, envOf(map[string]string{
		"RUNNER_TOKEN": "t", "RUNNER_LISTEN": "ignored:1", "RUNNER_WORKDIR": "/w", "RUNNER_SCRATCH": "/s",
		"RUNNER_CHILD_UID": "70001", "RUNNER_WARM": "go",
		"RUNNER_MAX_TIMEOUT_MS": "1500", "RUNNER_MAX_OUTPUT": "99", "RUNNER_PY_PRELOAD": "json, csv",
		"RUNNER_TOOL_GCC": "/opt/gcc/bin/gcc", "RUNNER_MAX_MEMORY": "536870912",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:9" || c.MaxOutput != 5 {
		t.Errorf("flags must win over the environment: %+v", c)
	}
	if c.Workdir != "/w" || c.Scratch != "/s" || c.ChildWorkdir != "/w" || c.ChildScratch != "/s" ||
		!reflect.DeepEqual(c.Warm, map[string]bool{"go": true}) ||
		c.MaxTimeout != 1500*time.Millisecond || !reflect.DeepEqual(c.PyPreload, []string{"json", "csv"}) ||
		c.Tools["GCC"] != "/opt/gcc/bin/gcc" || c.MaxMemory != 512<<20 {
		t.Errorf("environment: %+v", c)
	}
	if c.ChildUID != 70001 || c.ChildGID != 70001 {
		t.Errorf("RUNNER_CHILD_UID sets the child uid and, without RUNNER_CHILD_GID, the gid: %d/%d", c.ChildUID, c.ChildGID)
	}
	// An explicitly empty --warm, RUNNER_WARM or RUNNER_PY_PRELOAD means none.
	if c, _ := parseConfig([]string{"--warm", ""}, envOf(map[string]string{"RUNNER_TOKEN": "t"})); len(c.Warm) != 0 {
		t.Errorf("--warm \"\": %v", c.Warm)
	}
	c, _ = parseConfig(nil, envOf(map[string]string{"RUNNER_TOKEN": "t", "RUNNER_WARM": "", "RUNNER_PY_PRELOAD": ""}))
	if len(c.Warm) != 0 || len(c.PyPreload) != 0 {
		t.Errorf("empty RUNNER_WARM and RUNNER_PY_PRELOAD: %v %v", c.Warm, c.PyPreload)
	}
}

func TestConfigTokenHash(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for env, wantErr := range map[[2]string]bool{
		{"", hash}:                    false,
		{"t", hash}:                   true, // one or the other
		{"", hash[:62]}:               true,
		{"", strings.Repeat("x", 64)}: true,
	} {
		_, err := parseConfig(nil, envOf(map[string]string{"RUNNER_TOKEN": env[0], "RUNNER_TOKEN_SHA256": env[1]}))
		if (err != nil) != wantErr {
			t.Errorf("RUNNER_TOKEN=%q RUNNER_TOKEN_SHA256=%q: error %v, want one: %v", env[0], env[1], err, wantErr)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := map[string][]string{
		"RUNNER_TOKEN (or RUNNER_TOKEN_SHA256) is required": nil,
		"must not contain":    {"--workdir", "/a", "--scratch", "/a/b"},
		"--child-uid":         {"--child-uid", "-2"},
		"--max-procs":         {"--max-procs", "0"},
		"--max-memory":        {"--max-memory", "512M"},
		"--max-timeout-ms":    {"--max-timeout-ms", "soon"},
		"unexpected argument": {"extra"},
		"not defined: -wrap":  {"--wrap", `["bwrap","--"]`}, // the removed bubblewrap mode
		`"ts" cannot be prepared ahead (only go, js, py)`: {"--warm", "py,ts"},
	}
	for want, args := range cases {
		env := map[string]string{"RUNNER_TOKEN": "t"}
		if want == "RUNNER_TOKEN (or RUNNER_TOKEN_SHA256) is required" {
			env = nil
		}
		if _, err := parseConfig(args, envOf(env)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: got error %v, want one mentioning %q", args, err, want)
		}
	}
}
