package main

// The bash side of programmatic tool calling: `runner ptc-call SOCKET NAME [ARG]...` calls one tool
// over the run's socket (ptc.go). Bash PTC stubs run it, so every image can call tools, with or
// without Python. It needs nothing but the socket the runner already exposes to the run: no token, no
// configuration, no server set-up.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
)

const ptcCallCommand = "ptc-call"

// jailRunnerPath is where the runner binary is, read-only, inside every jail sandbox (buildSkeleton).
const jailRunnerPath = "/.kcr/runner"

func ptcCallMain(args []string) {
	os.Exit(callTool(args, os.Stdout, os.Stderr))
}

// callTool calls the tool and prints its result; it returns the exit code: 0, 1 when the tool failed
// or could not be called, 2 on bad arguments.
func callTool(args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(stderr, "usage: runner ptc-call SOCKET NAME [JSON-OBJECT | KEY=VALUE...]")
		return 2
	}
	sock, name := args[0], args[1]
	input, err := ptcCallInput(args[2:])
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	msg, _ := json.Marshal(map[string]any{"calls": []wireCall{{Name: name, Input: input}}})
	reply, err := ptcRoundTrip(sock, append(msg, '\n'))
	if err != nil {
		fmt.Fprintf(stderr, "%s: tool call failed: %v\n", name, err)
		return 1
	}
	var r struct {
		Results []struct {
			Result       json.RawMessage `json:"result"`
			IsError      bool            `json:"is_error"`
			ErrorMessage string          `json:"error_message"`
		} `json:"results"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal(reply, &r); err != nil || len(r.Results) != 1 {
		why := r.Error
		if why == "" {
			why = "no answer"
		}
		fmt.Fprintf(stderr, "%s: tool call failed: %s\n", name, why)
		return 1
	}
	res := r.Results[0]
	if res.IsError {
		why := res.ErrorMessage
		if why == "" {
			why = "tool failed"
		}
		fmt.Fprintf(stderr, "%s: %s\n", name, why)
		return 1
	}
	var s string
	if json.Unmarshal(res.Result, &s) == nil {
		fmt.Fprintln(stdout, s)
	} else {
		fmt.Fprintf(stdout, "%s\n", pyJSON(res.Result))
	}
	return 0
}

// ptcCallInput is a call's input from its arguments: none is {}; one JSON object is that object;
// otherwise key=value pairs, a value that is JSON parsed, else a string (in the order given, a key
// given twice keeping its first place and its last value).
func ptcCallInput(args []string) (json.RawMessage, error) {
	if len(args) == 1 && strings.HasPrefix(strings.TrimLeft(args[0], " \t\n\r"), "{") {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(args[0]), &obj); err != nil {
			return nil, fmt.Errorf("the argument is not a JSON object: %v", err)
		}
		var b bytes.Buffer
		json.Compact(&b, []byte(args[0]))
		return b.Bytes(), nil
	}
	var keys []string
	values := map[string]json.RawMessage{}
	for _, a := range args {
		key, value, ok := strings.Cut(a, "=")
		if !ok {
			return nil, errors.New("arguments are one JSON object or key=value pairs")
		}
		var v bytes.Buffer
		if json.Compact(&v, []byte(value)) != nil {
			v.Reset()
			s, _ := json.Marshal(value)
			v.Write(s)
		}
		if _, seen := values[key]; !seen {
			keys = append(keys, key)
		}
		values[key] = v.Bytes()
	}
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		b = append(append(append(b, kb...), ':'), values[k]...)
	}
	return append(b, '}'), nil
}

// ptcRoundTrip sends one batch and reads its reply line. A path longer than a socket address holds
// is reached through its directory's /proc/self/fd link.
func ptcRoundTrip(sock string, msg []byte) ([]byte, error) {
	addr := sock
	if len(sock) >= 100 {
		dir, err := os.Open(filepath.Dir(sock))
		if err != nil {
			return nil, err
		}
		defer dir.Close()
		addr = fmt.Sprintf("/proc/self/fd/%d/%s", dir.Fd(), filepath.Base(sock))
	}
	c, err := net.Dial("unix", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.Write(msg); err != nil {
		return nil, err
	}
	line, err := bufio.NewReaderSize(c, 64<<10).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return nil, errors.New("no answer")
	}
	return line, nil
}

// pyJSON formats compact JSON as Python's json.dumps does by default (what the bash stubs printed
// when they were Python): a space after each , and : outside strings.
func pyJSON(raw []byte) []byte {
	var c bytes.Buffer
	if json.Compact(&c, raw) != nil {
		return raw
	}
	var out []byte
	inString, escaped := false, false
	for _, ch := range c.Bytes() {
		out = append(out, ch)
		switch {
		case escaped:
			escaped = false
		case inString && ch == '\\':
			escaped = true
		case ch == '"':
			inString = !inString
		case !inString && (ch == ',' || ch == ':'):
			out = append(out, ' ')
		}
	}
	return out
}
