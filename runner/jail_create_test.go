package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// liveSandboxes is the jail's count of sandboxes (each holds a uid of its range, a tmpfs, cgroups and
// a holder until it is destroyed).
func (j *testJail) liveSandboxes(t testing.TB) int {
	return int(j.health(t)["sandboxes"].(float64))
}

// A create the API gave up on (its connection closed: the thread interrupted, a read timeout) leaves
// no sandbox behind: nothing could ever destroy it, and each held one of the jail's uids for good.
func TestJailCreateWhoseClientWentAwayLeavesNoSandbox(t *testing.T) {
	j := ownJail(t)
	body := `{"language":"bash","single_use":true}`
	for i := 0; i < 5; i++ {
		c, err := net.Dial("tcp", strings.TrimPrefix(j.url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST /sandboxes HTTP/1.1\r\nHost: jail\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", jailAdmin, len(body), body)
		// Gone before the answer, as far as the jail can tell (the API closes its socket); the read
		// side stays open only to know when the jail is done with the request.
		c.(*net.TCPConn).CloseWrite()
		answer, _ := io.ReadAll(c)
		c.Close()
		if n := j.liveSandboxes(t); n != 0 {
			t.Fatalf("after a create whose client went away (answered %q), %d sandboxes are alive\n%s", answer, n, j.log.String())
		}
	}
	// The jail still makes sandboxes.
	j.createSingleUse(t, "bash").destroy()
}

// The API names its sandbox: the id it chose is the sandbox's, for a DELETE even when the create's
// answer never reached it; an id in use or not hex is refused.
func TestJailSandboxNamedByTheAPI(t *testing.T) {
	j := sharedJail(t)
	id := randomHex(12)
	b := j.createFrom(t, map[string]any{"id": id, "language": "bash"})
	if b.id != id {
		t.Fatalf("the sandbox is %q, want the id the API named, %q", b.id, id)
	}
	if res := b.run("bash", "echo 1"); res.Stdout != "1\n" {
		t.Fatalf("a run in it: %s", res)
	}
	again, _ := json.Marshal(map[string]any{"id": id, "language": "bash"})
	if status, out := j.request("POST", "/sandboxes", jailAdmin, bytes.NewReader(again)); status != http.StatusConflict {
		t.Errorf("a second sandbox with the same id: want 409, got %d %s", status, out)
	}
	for _, bad := range []string{"../../etc", "ABCDEF0123456789", "0123", strings.Repeat("a", 65)} {
		req, _ := json.Marshal(map[string]any{"id": bad, "language": "bash"})
		if status, out := j.request("POST", "/sandboxes", jailAdmin, bytes.NewReader(req)); status != http.StatusBadRequest {
			t.Errorf("id %q: want 400, got %d %s", bad, status, out)
		}
	}
	if status, out := j.request("DELETE", "/sandboxes/"+id, jailAdmin, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE by the API's id: %d %s", status, out)
	}
	if status, _ := j.request("POST", "/execute", b.token, strings.NewReader(`{"language":"bash","code":"true"}`)); status != http.StatusUnauthorized {
		t.Errorf("the deleted sandbox still answers: %d", status)
	}
}

// The API DELETEs the id of a create it gave up on, whenever that lands: before the sandbox is made
// (404), while it is being made (destroyed once made, the create answers 503) or after (204). In
// every case no sandbox is left.
func TestJailDeleteRacingItsCreateLeavesNoSandbox(t *testing.T) {
	j := ownJail(t)
	stages := map[string]int{}
	for i := 0; i < 20; i++ {
		id := randomHex(12)
		body, _ := json.Marshal(map[string]any{"id": id, "language": "bash", "single_use": true})
		var wg sync.WaitGroup
		var created int
		wg.Add(1)
		go func() {
			defer wg.Done()
			created, _ = j.request("POST", "/sandboxes", jailAdmin, bytes.NewReader(body))
		}()
		time.Sleep(time.Duration(i%5) * time.Millisecond) // lands at different stages of the create
		deleted, out := j.request("DELETE", "/sandboxes/"+id, jailAdmin, nil)
		wg.Wait()
		if deleted != http.StatusNoContent && deleted != http.StatusNotFound {
			t.Fatalf("DELETE: %d %s", deleted, out)
		}
		if deleted == http.StatusNotFound { // before the create began: it is the API's to delete again
			j.request("DELETE", "/sandboxes/"+id, jailAdmin, nil)
		}
		if created != http.StatusCreated && created != http.StatusServiceUnavailable {
			t.Fatalf("create: %d", created)
		}
		stages[fmt.Sprintf("create %d, delete %d", created, deleted)]++
	}
	t.Logf("how the races went: %v", stages)
	if n := j.liveSandboxes(t); n != 0 {
		t.Fatalf("%d sandboxes left: %s", n, j.log.String())
	}
}
