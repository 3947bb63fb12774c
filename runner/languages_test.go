package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// langCase is one language end to end: hello world, an error, and file input/output.
type langCase struct {
	lang      string
	hello     string // prints "hello" (and "hello" only)
	bad       string // fails to compile or throws
	badCode   int    // expected exit code of bad, -1 for "any non-zero"
	badStderr string // expected in stderr of bad
	io        string // reads a number from input.txt, writes twice it to output.txt
}

var langCases = []langCase{
	{
		lang:  "py",
		hello: `print("hello")`,
		bad:   "def f():\n    raise ValueError('bad input')\n\nf()\n", badCode: 1,
		badStderr: "code.py\", line 2, in f\n    raise ValueError('bad input')\nValueError: bad input",
		io:        "n = int(open('input.txt').read())\nopen('output.txt', 'w').write(str(n * 2))\n",
	},
	{
		lang:  "js",
		hello: `console.log("hello")`,
		bad:   "function f() {\n  throw new Error('bad input');\n}\nf();\n", badCode: 1,
		badStderr: "code.js:2\n  throw new Error('bad input');\n  ^\n\nError: bad input\n    at f (",
		io:        "const fs = require('fs');\nconst n = parseInt(fs.readFileSync('input.txt', 'utf8'));\nfs.writeFileSync('output.txt', String(n * 2));\n",
	},
	{
		lang:  "ts",
		hello: "const greeting: string = 'hello';\nconsole.log(greeting);\n",
		bad:   "const n: number = 'not a number';\nconsole.log(n);\n", badCode: -1,
		badStderr: "\ncode.ts(1,7): error TS2322: Type 'string' is not assignable to type 'number'.",
		io:        "import * as fs from 'fs';\nconst n: number = parseInt(fs.readFileSync('input.txt', 'utf8'));\nfs.writeFileSync('output.txt', String(n * 2));\n",
	},
	{
		lang:  "go",
		hello: "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n",
		bad:   "package main\n\nfunc main() { undefinedFunction() }\n", badCode: 1,
		badStderr: "main.go:3:15: undefined: undefinedFunction",
		io:        "package main\n\nimport (\n\t\"os\"\n\t\"strconv\"\n\t\"strings\"\n)\n\nfunc main() {\n\tb, _ := os.ReadFile(\"input.txt\")\n\tn, _ := strconv.Atoi(strings.TrimSpace(string(b)))\n\tos.WriteFile(\"output.txt\", []byte(strconv.Itoa(n*2)), 0o644)\n}\n",
	},
	{
		lang: "java",
		// The class holding main is not the first one and not called Code.
		hello: "class Helper { static String word() { return \"hello\"; } }\n\npublic class Greeter {\n  public static void main(String[] args) { System.out.println(Helper.word()); }\n}\n",
		bad:   "public class Main {\n  public static void main(String[] args) { int x = \"s\"; }\n}\n", badCode: 1,
		badStderr: "error: incompatible types: String cannot be converted to int",
		io:        "import java.nio.file.*;\n\npublic class Main {\n  public static void main(String[] args) throws Exception {\n    int n = Integer.parseInt(Files.readString(Path.of(\"input.txt\")).trim());\n    Files.writeString(Path.of(\"output.txt\"), String.valueOf(n * 2));\n  }\n}\n",
	},
	{
		lang:  "c",
		hello: "#include <stdio.h>\n#include <math.h>\n\nint main(void) {\n  volatile double x = 4.0;\n  if (sqrt(x) == 2.0) printf(\"hello\\n\");\n  return 0;\n}\n",
		bad:   "int main(void) { return undefined_variable; }\n", badCode: 1,
		badStderr: "error: ‘undefined_variable’ undeclared",
		io:        "#include <stdio.h>\n\nint main(void) {\n  int n;\n  FILE *in = fopen(\"input.txt\", \"r\");\n  fscanf(in, \"%d\", &n);\n  FILE *out = fopen(\"output.txt\", \"w\");\n  fprintf(out, \"%d\", n * 2);\n  fclose(out);\n  return 0;\n}\n",
	},
	{
		lang:  "cpp",
		hello: "#include <iostream>\n#include <vector>\n\nint main() {\n  std::vector<std::string> v{\"hello\"};\n  for (auto &s : v) std::cout << s << std::endl;\n}\n",
		bad:   "#include <iostream>\nint main() { std::cout << undefined_thing; }\n", badCode: 1,
		badStderr: "error: ‘undefined_thing’ was not declared",
		io:        "#include <fstream>\n\nint main() {\n  int n;\n  std::ifstream(\"input.txt\") >> n;\n  std::ofstream(\"output.txt\") << n * 2;\n}\n",
	},
	{
		lang:  "rs",
		hello: "fn main() {\n    println!(\"hello\");\n}\n",
		bad:   "fn main() {\n    let x: i32 = \"s\";\n}\n", badCode: 1,
		badStderr: "mismatched types",
		io:        "use std::fs;\n\nfn main() {\n    let n: i64 = fs::read_to_string(\"input.txt\").unwrap().trim().parse().unwrap();\n    fs::write(\"output.txt\", (n * 2).to_string()).unwrap();\n}\n",
	},
	{
		lang:  "f90",
		hello: "program hello\n  print '(a)', 'hello'\nend program hello\n",
		bad:   "program bad\n  integer :: x\n  x = undefined_function_call(\nend program bad\n", badCode: 1,
		badStderr: "Error",
		io:        "program io\n  integer :: n\n  open(10, file='input.txt')\n  read(10, *) n\n  close(10)\n  open(11, file='output.txt')\n  write(11, '(i0)') n * 2\n  close(11)\nend program io\n",
	},
	{
		lang:  "d",
		hello: "import std.stdio;\n\nvoid main() {\n    writeln(\"hello\");\n}\n",
		bad:   "void main() {\n    undefinedFunction();\n}\n", badCode: 1,
		badStderr: "undefined identifier `undefinedFunction`",
		io:        "import std.file, std.conv, std.string;\n\nvoid main() {\n    auto n = readText(\"input.txt\").strip.to!int;\n    write(\"output.txt\", to!string(n * 2));\n}\n",
	},
	{
		lang:  "php",
		hello: "<?php\necho \"hello\\n\";\n",
		bad:   "<?php\nundefined_function();\n", badCode: 255,
		badStderr: "Call to undefined function undefined_function()",
		io:        "<?php\n$n = (int) file_get_contents('input.txt');\nfile_put_contents('output.txt', (string) ($n * 2));\n",
	},
	{
		lang:  "r",
		hello: "cat(\"hello\\n\")\n",
		bad:   "f <- function() stop(\"bad input\")\nf()\n", badCode: 1,
		badStderr: "Error in f() : bad input",
		io:        "n <- as.integer(readLines(\"input.txt\", warn = FALSE))\ncat(n * 2, file = \"output.txt\")\n",
	},
	{
		lang:  "bash",
		hello: "echo hello\n",
		bad:   "echo 'bad input' >&2\nexit 3\n", badCode: 3,
		badStderr: "bad input",
		io:        "n=$(cat input.txt)\necho -n $((n * 2)) > output.txt\n",
	},
}

func TestLanguages(t *testing.T) {
	for _, c := range langCases {
		t.Run(c.lang, func(t *testing.T) {
			t.Parallel()
			var opts runnerOpts
			if c.lang == "rs" && os.Geteuid() == 0 {
				opts.args = rustChildUID(t)
			}
			tr := newRunner(t, opts)

			res := tr.run(c.lang, c.hello)
			if res.ExitCode != 0 || res.Stdout != "hello\n" || res.TimedOut {
				t.Fatalf("hello world: want exit 0 and stdout \"hello\\n\", got %s", res)
			}
			if len(res.Files) != 0 || len(res.Deleted) != 0 {
				t.Errorf("code files or build artefacts showed up in the workdir: %v %v", res.Files, res.Deleted)
			}

			res = tr.run(c.lang, c.bad)
			if res.ExitCode == 0 || (c.badCode >= 0 && res.ExitCode != c.badCode) {
				t.Errorf("error case: want exit %d, got %s", c.badCode, res)
			}
			if !strings.Contains("\n"+res.Stderr, c.badStderr) { // "\n" anchors at a line start
				t.Errorf("error case: stderr does not contain %q:\n%s", c.badStderr, res.Stderr)
			}

			tr.put("input.txt", "21\n")
			res = tr.run(c.lang, c.io)
			if res.ExitCode != 0 {
				t.Fatalf("file io: %s", res)
			}
			if got := strings.Join(changedPaths(res.Files), ","); got != "created output.txt" {
				t.Errorf("file io: want files [created output.txt], got %v", got)
			}
			if got := strings.TrimSpace(tr.get("output.txt")); got != "42" {
				t.Errorf("file io: output.txt = %q, want 42", got)
			}
		})
	}
}

// TypeScript code type-checks against the installed npm libraries (their own types or @types/NAME), the
// way tsc would in a project: a wrong use is a compile error, a right one compiles and runs.
func TestTypeScriptImportsInstalledLibraries(t *testing.T) {
	t.Parallel()
	tsc := testEnv()["RUNNER_TOOL_TSC"]
	nm := nodeModulesOf(tsc)
	if _, err := os.Stat(filepath.Join(nm, "@types", "lodash")); tsc == "" || err != nil {
		t.Skip("no lodash types next to the TypeScript compiler (scripts/install-prereqs installs them)")
	}
	tr := newRunner(t, runnerOpts{})
	res := tr.run("ts", "import _ from 'lodash';\nconst pairs: number[][] = _.chunk([1, 2, 3], 2);\nconsole.log(JSON.stringify(pairs));\n")
	if res.ExitCode != 0 || res.Stdout != "[[1,2],[3]]\n" {
		t.Fatalf("lodash from TypeScript: want [[1,2],[3]], got %s", res)
	}
	res = tr.run("ts", "import _ from 'lodash';\nconst wrong: string = _.chunk([1, 2, 3], 2);\nconsole.log(wrong);\n")
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "code.ts(2,7): error TS2322") {
		t.Errorf("a wrong use of lodash's types must not compile, got %s", res)
	}
}

// js code uses the installed npm packages as an ES module would (import, which never looks at NODE_PATH)
// and as CommonJS does (require); Node tells which from the code's syntax, as `node code.js` would.
func TestJavaScriptImportsInstalledLibraries(t *testing.T) {
	t.Parallel()
	nm := nodeModulesOf(testEnv()["RUNNER_TOOL_TSC"])
	if _, err := os.Stat(filepath.Join(nm, "lodash")); nm == "" || err != nil {
		t.Skip("no npm libraries next to the TypeScript compiler (scripts/install-prereqs installs them)")
	}
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "js"}})
	for _, c := range jsModuleCases {
		warm, cold, direct := tr.runBoth("js", c.code, nil, tr.srv.cfg.Tools["NODE"])
		for kind, res := range map[string]result{"warm": warm, "cold": cold, "node code.js": direct} {
			if res.ExitCode != 0 || res.Stdout != c.want {
				t.Errorf("%s, %s: want %q, got %s", c.name, kind, c.want, res)
			}
		}
	}
}

// jsModuleCases are js programs of both module kinds using installed packages, with their output.
var jsModuleCases = []struct{ name, code, want string }{
	{"an ES module importing a CommonJS package", "import _ from \"lodash\";\nconsole.log(_.sum([1, 2]));\n", "3\n"},
	{"an ES module importing an ES module package by name", "import { addDays } from \"date-fns\";\nconsole.log(addDays(new Date(0), 1).getTime());\n", "86400000\n"},
	{"an ES module with top-level await and node: built-ins",
		"import fs from \"node:fs\";\nconst text = await fs.promises.readFile(new URL(import.meta.url), \"utf8\");\nconsole.log(text.startsWith(\"import\"), typeof (await import(\"lodash\")).default.chunk);\n",
		"true function\n"},
	{"CommonJS requiring a package", "const _ = require(\"lodash\");\nconsole.log(_.sum([1, 2]), require.main === module);\n", "3 true\n"},
}

// rustChildUID keeps children as root when the Rust toolchain is not reachable by other users (a
// rustup toolchain under /root on this machine); the sandbox uid could not even stat rustc.
func rustChildUID(t *testing.T) []string {
	rustc := resolveTool("rustc")
	if rustc == "" {
		return nil
	}
	for d := filepath.Dir(rustc); d != "/"; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			t.Logf("rustc under %s is not reachable by other users: running rs children as root", d)
			return []string{"--child-uid", "-1"}
		}
	}
	return nil
}

func TestJavaMainClass(t *testing.T) {
	cases := map[string]string{
		"public class Code { public static void main(String[] a) {} }":                                                                         "Code",
		"class A {}\npublic class B { public static void main(String[] a) {} }":                                                                "B",
		"class A { static class Inner {} }\nclass B { void run() {} public static void main(String... a) {} }":                                 "B",
		"// class Fake { void main() {} }\npublic class Real { public static void main(String[] a) { String s = \"class X { void main(\"; } }": "Real",
		"void main() { IO.println(\"compact\"); }":                                                                                             "Main",
		"class NoMain { void run() {} }":                                                                                                       "Main",
		"class First { public static void main(String[] a) {} }\npublic class Second { public static void main(String[] a) {} }":               "Second",
	}
	for src, want := range cases {
		if got := javaMainClass(src); got != want {
			t.Errorf("javaMainClass(%q) = %q, want %q", src, got, want)
		}
	}
}

// A Java AOT cache the JVM cannot use must not show up in the program's output.
func TestJavaWithAnUnusableAOTCache(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(testBase, "bad.aot")
	os.WriteFile(bad, []byte("not an AOT cache"), 0o644)
	tr := newRunner(t, runnerOpts{env: map[string]string{"RUNNER_JAVA_AOT_CACHE": bad}})
	res := tr.run("java", "public class Main { public static void main(String[] a) { System.out.println(\"hello\"); } }")
	if res.ExitCode != 0 || res.Stdout != "hello\n" || res.Stderr != "" {
		t.Errorf("want a clean hello, got %s", res)
	}
}

// Go builds use the seeded build cache: the standard library is never compiled by a run.
func TestGoUsesTheSeededCache(t *testing.T) {
	t.Parallel()
	seed := "/opt/kubecoderun/go-cache-seed"
	if _, err := os.Stat(seed); err != nil {
		t.Skip("no seed cache: run scripts/install-prereqs")
	}
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "go"}})
	tr.srv.goCache.Do(tr.srv.seedGoCache) // waits for the copy started at start
	cache := filepath.Join(tr.scratch, dirGoCache)
	before := countFiles(cache)
	if seeded := countFiles(seed); before < seeded {
		t.Fatalf("GOCACHE holds %d files, the seed %d", before, seeded)
	}
	res := tr.run("go", "package main\n\nimport (\n\t\"encoding/json\"\n\t\"fmt\"\n\t\"os\"\n\t\"sort\"\n\t\"strings\"\n)\n\n"+
		"func main() {\n\ts := []string{\"b\", \"a\"}\n\tsort.Strings(s)\n\tb, _ := json.Marshal(s)\n\tfmt.Println(strings.ToUpper(string(b)))\n\tos.Exit(3)\n}\n")
	if res.ExitCode != 3 || res.Stdout != "[\"A\",\"B\"]\n" {
		t.Fatalf("want the program's output and its exit code 3, got %s", res)
	}
	// Compiling the main package and linking add a handful of entries; the standard library hundreds.
	if added := countFiles(cache) - before; added > 40 {
		t.Errorf("the build added %d files to GOCACHE: the standard library was rebuilt", added)
	}
}

// A pool sandbox of Go is ready once its build cache is in place: /health says so, as it says for a
// warm interpreter, and says nothing of languages it was not asked to prepare.
func TestHealthReportsTheGoBuildCacheAsWarm(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{args: []string{"--warm", "go"}})
	var body []byte
	if !eventually(60*time.Second, func() bool {
		_, body = tr.request("GET", "/health", nil)
		return strings.Contains(string(body), `"warm":{"go":true}`)
	}) {
		t.Fatalf("want warm go (and nothing else) on /health, got %s", body)
	}
}

func countFiles(dir string) int {
	n := 0
	filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// A run's code can replace the build cache folder (it is the children's; on Kubernetes they also
// share the runner's uid): a named pipe there made the next Go run of a kept sandbox, which copies
// the seed cache in on first use, hang the runner forever opening it.
func TestAGoCacheReplacedByANamedPipeDoesNotHangTheNextGoRun(t *testing.T) {
	t.Parallel()
	tr := newRunner(t, runnerOpts{})
	if res := tr.run("bash", `rm -rf "$GOCACHE" && mkfifo "$GOCACHE" && test -p "$GOCACHE"`); res.ExitCode != 0 {
		t.Fatalf("planting the pipe: %s", res)
	}
	done := make(chan result, 1)
	go func() {
		done <- tr.execute(map[string]any{"language": "go", "code": "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"built\") }\n", "timeout_ms": 60000})
	}()
	select {
	case res := <-done:
		if res.ExitCode != 0 || res.Stdout != "built\n" {
			t.Errorf("want the program's output, got %s", res)
		}
	case <-time.After(90 * time.Second):
		// Let the runner go: a writer opens the pipe.
		if f, err := os.OpenFile(filepath.Join(tr.scratch, dirGoCache), os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		<-done
		t.Fatal("the Go run hung on the named pipe in place of its build cache")
	}
}
