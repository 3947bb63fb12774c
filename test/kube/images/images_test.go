// Package images smoke-tests the built sandbox images: each unpacked image (scripts/build-images
// --rootfs, the dir named by KCR_IMAGE_ROOTFS) is started as the Kubernetes backend's pod spec would
// start it (package container: the image's entrypoint, user and environment, a read-only root, the
// work dir and /tmp as volumes, RUNNER_TOKEN_SHA256 and the runner settings the API passes), one "pod" per
// run as on Kubernetes, and its runner runs each language of the image: hello world, a file round trip
// through /mnt/data, the library check of KCR_LIBRARY_CHECKS/<lang> when there is one, and for Python
// the state round trip and the warm preload. Start-up times go to the log (and to KCR_IMAGE_REPORT).
package images

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"kubecoderun/test/kube/container"
)

func TestMain(m *testing.M) {
	container.MaybeInit()
	os.Exit(m.Run())
}

const token = "smoke-test-token"

// hello and roundTrip per language: roundTrip reads /mnt/data/in.txt, prints it and writes it with a
// "!" to /mnt/data/out.txt, by absolute path as LibreChat's generated code does.
var hello = map[string]string{
	"py":   "print('hello from py')",
	"js":   "console.log('hello from js')",
	"ts":   "const who: string = 'ts';\nconsole.log(`hello from ${who}`);",
	"go":   "package main\nimport \"fmt\"\nfunc main() { fmt.Println(\"hello from go\") }",
	"java": "public class Main { public static void main(String[] a) { System.out.println(\"hello from java\"); } }",
	"c":    "#include <stdio.h>\nint main(void) { printf(\"hello from c\\n\"); return 0; }",
	"cpp":  "#include <iostream>\nint main() { std::cout << \"hello from cpp\" << std::endl; }",
	"php":  "<?php echo \"hello from php\\n\";",
	"rs":   "fn main() { println!(\"hello from rs\"); }",
	"r":    "cat('hello from r\\n')",
	"f90":  "program hello\n  print '(A)', 'hello from f90'\nend program hello",
	"d":    "import std.stdio;\nvoid main() { writeln(\"hello from d\"); }",
	"bash": "echo 'hello from bash'",
}

var roundTrip = map[string]string{
	"py": "s = open('/mnt/data/in.txt').read()\nprint(s)\nopen('/mnt/data/out.txt', 'w').write(s + '!')",
	"js": "const fs = require('fs');\nconst s = fs.readFileSync('/mnt/data/in.txt', 'utf8');\nconsole.log(s);\nfs.writeFileSync('/mnt/data/out.txt', s + '!');",
	"ts": "import * as fs from 'fs';\nconst s: string = fs.readFileSync('/mnt/data/in.txt', 'utf8');\nconsole.log(s);\nfs.writeFileSync('/mnt/data/out.txt', s + '!');",
	"go": "package main\nimport (\"fmt\"; \"os\")\nfunc main() {\n\tb, err := os.ReadFile(\"/mnt/data/in.txt\")\n\tif err != nil { panic(err) }\n\tfmt.Println(string(b))\n\tif err := os.WriteFile(\"/mnt/data/out.txt\", append(b, '!'), 0o644); err != nil { panic(err) }\n}",
	"java": "import java.nio.file.*;\npublic class Main { public static void main(String[] a) throws Exception {\n" +
		"  String s = Files.readString(Path.of(\"/mnt/data/in.txt\"));\n  System.out.println(s);\n  Files.writeString(Path.of(\"/mnt/data/out.txt\"), s + \"!\");\n} }",
	"c": "#include <stdio.h>\nint main(void) {\n  char b[64] = {0};\n  FILE *f = fopen(\"/mnt/data/in.txt\", \"r\");\n  if (!f) return 1;\n  fread(b, 1, 63, f); fclose(f);\n" +
		"  printf(\"%s\\n\", b);\n  f = fopen(\"/mnt/data/out.txt\", \"w\");\n  if (!f) return 2;\n  fprintf(f, \"%s!\", b); fclose(f);\n  return 0;\n}",
	"cpp": "#include <fstream>\n#include <iostream>\n#include <sstream>\nint main() {\n  std::ifstream in(\"/mnt/data/in.txt\");\n  std::stringstream s; s << in.rdbuf();\n" +
		"  std::cout << s.str() << std::endl;\n  std::ofstream out(\"/mnt/data/out.txt\");\n  out << s.str() << \"!\";\n  return out.good() ? 0 : 1;\n}",
	"php": "<?php\n$s = file_get_contents('/mnt/data/in.txt');\necho $s, \"\\n\";\nfile_put_contents('/mnt/data/out.txt', $s . '!') or exit(1);",
	"rs":  "use std::fs;\nfn main() {\n    let s = fs::read_to_string(\"/mnt/data/in.txt\").unwrap();\n    println!(\"{}\", s);\n    fs::write(\"/mnt/data/out.txt\", format!(\"{}!\", s)).unwrap();\n}",
	"r":   "s <- readLines('/mnt/data/in.txt', warn = FALSE)\ncat(s, '\\n', sep = '')\ncat(paste0(s, '!'), file = '/mnt/data/out.txt')",
	"f90": "program rt\n  character(len=64) :: s\n  open(10, file='/mnt/data/in.txt', status='old')\n  read(10, '(A)') s\n  close(10)\n  print '(A)', trim(s)\n" +
		"  open(11, file='/mnt/data/out.txt', status='replace')\n  write(11, '(A)', advance='no') trim(s) // '!'\n  close(11)\nend program rt",
	"d":    "import std.stdio, std.file;\nvoid main() {\n  auto s = readText(\"/mnt/data/in.txt\");\n  writeln(s);\n  std.file.write(\"/mnt/data/out.txt\", s ~ \"!\");\n}",
	"bash": "s=$(cat /mnt/data/in.txt)\necho \"$s\"\nprintf '%s!' \"$s\" > /mnt/data/out.txt",
}

type unpacked struct {
	name, dir string
	config    container.ImageConfig
}

func images(t *testing.T) []unpacked {
	dir := os.Getenv("KCR_IMAGE_ROOTFS")
	if dir == "" {
		t.Skip("KCR_IMAGE_ROOTFS is not set: no built images to test (scripts/test builds and unpacks them)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []unpacked
	for _, e := range entries {
		d := filepath.Join(dir, e.Name())
		if strings.HasSuffix(e.Name(), ".tmp") { // being unpacked
			continue
		}
		img, err := container.ReadImage(d)
		if err != nil {
			t.Fatalf("%s: %v", d, err)
		}
		if img == nil {
			continue
		}
		out = append(out, unpacked{name: e.Name(), dir: d, config: img.Config})
	}
	if len(out) == 0 {
		t.Fatalf("no unpacked image in %s", dir)
	}
	return out
}

// pod is one started image: its runner on a loopback port.
type pod struct {
	cmd     *exec.Cmd
	base    string
	data    string // host dir of /mnt/data
	log     bytes.Buffer
	started time.Time
}

// startPod starts img as the Kubernetes backend's pod spec does: RUNNER_WARM names warm (a pool pod)
// or nothing (a Job), runs are single-use.
func startPod(t *testing.T, img unpacked, warm string) *pod {
	t.Helper()
	dir, err := os.MkdirTemp("", "kcr-smoke-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	p := &pod{data: filepath.Join(dir, "data")}
	tmp := filepath.Join(dir, "tmp")
	for _, d := range []string{p.data, tmp, filepath.Join(dir, "root")} {
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, 0o777) // emptyDir volumes are 0777
	}
	port := freePort(t)
	env := append(slices.Clone(img.config.Env),
		"HOSTNAME=sandbox", "RUNNER_TOKEN_SHA256="+tokenSHA256(token), "RUNNER_WARM="+warm, "RUNNER_SINGLE_USE=true",
		"RUNNER_WORKDIR=/mnt/data", "RUNNER_SCRATCH=/tmp/kcr")
	args := append(slices.Clone(img.config.Entrypoint), img.config.Cmd...)
	args = append(args, "--listen", fmt.Sprintf("127.0.0.1:%d", port))
	var uid, gid int
	if _, err := fmt.Sscanf(img.config.User, "%d:%d", &uid, &gid); err != nil || uid == 0 {
		t.Fatalf("%s: image user %q: want a non-root uid:gid", img.name, img.config.User)
	}
	cmd, st, err := container.Command(container.Spec{
		Rootfs: filepath.Join(img.dir, "rootfs"), Root: filepath.Join(dir, "root"), ReadOnlyRoot: true,
		Args: args, Env: env, Dir: img.config.WorkingDir, UID: uid, GID: gid, Groups: []int{gid},
		Hostname: "sandbox", NoNewPrivs: true,
		Mounts: []container.Mount{{Source: p.data, Target: "/mnt/data"}, {Source: tmp, Target: "/tmp"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = &p.log, &p.log
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		st.Abort()
		t.Fatal(err)
	}
	if err := st.Release(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	p.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s runner log:\n%s", img.name, p.log.String())
		}
	})
	return p
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitReady waits for /health, and for the warm language's interpreter when there is one; it returns
// the time from the start to /health and to warm.
func (p *pod) waitReady(t *testing.T, warm string) (health, warmed time.Duration) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(p.base + "/health")
		if err == nil {
			var h struct {
				Status string
				Warm   map[string]bool
			}
			json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				if health == 0 {
					health = time.Since(p.started)
				}
				if warm == "" || warm == "go" || h.Warm[warm] {
					return health, time.Since(p.started)
				}
			}
		}
		if p.cmd.ProcessState != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the runner did not become ready (warm %q) in 60 s", warm)
	return
}

type result struct {
	ExitCode int `json:"exit_code"`
	Stdout   string
	Stderr   string
	State    string
	Files    []struct{ Path, Change string }
}

func (p *pod) call(t *testing.T, method, path string, body io.Reader, out any) {
	t.Helper()
	req, _ := http.NewRequest(method, p.base+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 120 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

func (p *pod) execute(t *testing.T, req map[string]any) result {
	t.Helper()
	b, _ := json.Marshal(req)
	var r result
	p.call(t, "POST", "/execute", bytes.NewReader(b), &r)
	return r
}

func (p *pod) run(t *testing.T, lang, code string) result {
	t.Helper()
	r := p.execute(t, map[string]any{"language": lang, "code": code, "timeout_ms": 60000})
	if r.ExitCode != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", lang, r.ExitCode, r.Stdout, r.Stderr)
	}
	return r
}

// warmOf is the language a pool of this image's languages warms (the API's rule: py, js, go).
func warmOf(lang string) string {
	if lang == "py" || lang == "js" || lang == "go" {
		return lang
	}
	return ""
}

func TestImages(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (namespaces, mounts)")
	}
	checks := os.Getenv("KCR_LIBRARY_CHECKS")
	var report []string
	for _, img := range images(t) {
		langs := strings.Fields(img.config.Labels["dev.kubecoderun.languages"])
		if len(langs) == 0 {
			t.Errorf("%s: no dev.kubecoderun.languages label", img.name)
		}
		for _, lang := range langs {
			t.Run(img.name+"/"+lang, func(t *testing.T) {
				warm := warmOf(lang)
				p := startPod(t, img, warm)
				health, ready := p.waitReady(t, warm)
				t0 := time.Now()
				r := p.run(t, lang, hello[lang])
				took := time.Since(t0)
				if r.Stdout != "hello from "+lang+"\n" {
					t.Errorf("hello world: stdout %q, stderr %q", r.Stdout, r.Stderr)
				}
				line := fmt.Sprintf("%s %s: /health after %d ms, ready (warm %q) after %d ms, hello world %d ms",
					img.name, lang, health.Milliseconds(), warm, ready.Milliseconds(), took.Milliseconds())
				t.Log(line)
				report = append(report, line)

				// A file round trip: put, run, listed as created, get.
				p = startPod(t, img, warm)
				p.waitReady(t, warm)
				p.call(t, "PUT", "/files/in.txt", strings.NewReader("round trip"), nil)
				r = p.run(t, lang, roundTrip[lang])
				if strings.TrimSpace(r.Stdout) != "round trip" {
					t.Errorf("round trip: stdout %q, stderr %q", r.Stdout, r.Stderr)
				}
				if !slices.ContainsFunc(r.Files, func(f struct{ Path, Change string }) bool {
					return f.Path == "out.txt" && f.Change == "created"
				}) {
					t.Errorf("round trip: out.txt not reported created: %+v", r.Files)
				}
				req, _ := http.NewRequest("GET", p.base+"/files/out.txt", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				// Fortran ends its record with a newline.
				if strings.TrimSuffix(string(b), "\n") != "round trip!" {
					t.Errorf("out.txt: %q", b)
				}

				if checks != "" {
					if prog, err := os.ReadFile(filepath.Join(checks, lang)); err == nil && len(prog) > 0 {
						p = startPod(t, img, warm)
						p.waitReady(t, warm)
						r := p.execute(t, map[string]any{"language": lang, "code": string(prog), "timeout_ms": 120000})
						if r.ExitCode != 0 || r.Stdout != "ok\n" {
							t.Errorf("library check: exit %d\nstdout: %s\nstderr: %s", r.ExitCode, r.Stdout, r.Stderr)
						}
					}
				}
				if lang == "py" {
					pythonChecks(t, img)
				}
			})
		}
	}
	if path := os.Getenv("KCR_IMAGE_REPORT"); path != "" {
		os.WriteFile(path, []byte(strings.Join(report, "\n")+"\n"), 0o644)
	}
}

// pythonChecks: the warm interpreter has the preload imported, and state goes from one pod to the next.
func pythonChecks(t *testing.T, img unpacked) {
	p := startPod(t, img, "py")
	p.waitReady(t, "py")
	r := p.run(t, "py", "import sys\nprint(sorted(m for m in ('numpy', 'pandas', 'matplotlib') if m in sys.modules))")
	if r.Stdout != "['matplotlib', 'numpy', 'pandas']\n" {
		t.Errorf("warm preload: modules imported ahead %q", r.Stdout)
	}

	p = startPod(t, img, "py")
	p.waitReady(t, "py")
	r = p.execute(t, map[string]any{"language": "py", "code": "import numpy as np\nx = 41\na = np.arange(3)", "capture_state": true})
	if r.ExitCode != 0 || r.State == "" {
		t.Fatalf("state capture: exit %d, state %d bytes, stderr %s", r.ExitCode, len(r.State), r.Stderr)
	}
	if b, err := base64.StdEncoding.DecodeString(r.State); err != nil || len(b) == 0 || b[0] != 0x02 {
		t.Errorf("state: want version 2 (lz4), got %v", err)
	}
	q := startPod(t, img, "py")
	q.waitReady(t, "py")
	r = q.execute(t, map[string]any{"language": "py", "code": "print(x + 1, a.sum())", "state": r.State})
	if r.ExitCode != 0 || r.Stdout != "42 3\n" {
		t.Errorf("state restore: exit %d, stdout %q, stderr %s", r.ExitCode, r.Stdout, r.Stderr)
	}
}

// tokenSHA256 is what the API puts in a sandbox pod's env in place of its token.
func tokenSHA256(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
