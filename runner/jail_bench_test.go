package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// BenchmarkJailExecute measures a py print(1) through the jail server the way the local backend uses
// it: a pool of warm single-use sandboxes (POOL, default 4) refilled in the background, each run
// taking one (POST /execute), which ends itself after its answer (sandbox_ended; otherwise it is
// destroyed with a DELETE, whose cost destroy-p50-ms reports, 0 when none was needed). Needs root.
// Sub-benchmarks:
//
//	paced: one run at a time with a pause (JAIL_BENCH_GAP, default 200ms) between runs, the pool full
//	c1, c8: 1 or 8 clients back to back
//
// It reports the request's latency (http-p50/p99), the run inside the runner (run-p50/p99, the
// response's duration_ms), runs per second, and the cost of creating and destroying a sandbox.
// JAIL_BENCH_LANG=js measures a js console.log(1) instead.
//
//	cd runner && go test -run '^$' -bench BenchmarkJailExecute -benchtime 300x
func BenchmarkJailExecute(b *testing.B) {
	j := ownJail(b, "--cgroup-favordynmods")
	poolSize := 4
	if n, err := strconv.Atoi(os.Getenv("POOL")); err == nil && n > 0 {
		poolSize = n
	}
	gap := 200 * time.Millisecond
	if d, err := time.ParseDuration(os.Getenv("JAIL_BENCH_GAP")); err == nil {
		gap = d
	}
	for _, c := range []struct {
		name    string
		clients int
		paced   bool
	}{{"paced", 1, true}, {"c1", 1, false}, {"c8", 8, false}} {
		b.Run(c.name, func(b *testing.B) {
			p := newBenchPool(b, j, poolSize)
			defer p.close()
			p.waitFull()
			var mu sync.Mutex
			var httpLat []time.Duration
			var runLat []float64
			var wg sync.WaitGroup
			next := make(chan struct{}, b.N)
			for i := 0; i < b.N; i++ {
				next <- struct{}{}
			}
			close(next)
			b.ResetTimer()
			start := time.Now()
			for w := 0; w < c.clients; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range next {
						if c.paced {
							time.Sleep(gap)
							p.waitFull()
						}
						box := p.take()
						t0 := time.Now()
						res := box.execute(benchJob())
						d := time.Since(t0)
						if !res.SandboxEnded {
							go p.destroy(box)
						}
						if res.Stdout != "1\n" {
							b.Errorf("unexpected result %s", res)
						}
						mu.Lock()
						httpLat, runLat = append(httpLat, d), append(runLat, res.DurationMS)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			slices.Sort(httpLat)
			slices.Sort(runLat)
			pct := func(n int, p float64) int { return min(n-1, int(p*float64(n))) }
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			b.ReportMetric(ms(httpLat[pct(len(httpLat), 0.50)]), "http-p50-ms")
			b.ReportMetric(ms(httpLat[pct(len(httpLat), 0.99)]), "http-p99-ms")
			b.ReportMetric(runLat[pct(len(runLat), 0.50)], "run-p50-ms")
			b.ReportMetric(runLat[pct(len(runLat), 0.99)], "run-p99-ms")
			if !c.paced {
				b.ReportMetric(float64(len(httpLat))/elapsed.Seconds(), "runs/s")
			}
			cr, de := p.costs()
			b.ReportMetric(ms(cr[pct(len(cr), 0.50)]), "create-p50-ms")
			b.ReportMetric(ms(de[pct(len(de), 0.50)]), "destroy-p50-ms")
		})
	}
}

// benchPool keeps size warm sandboxes ready, like the API's pool.
type benchPool struct {
	b       testing.TB
	j       *testJail
	ready   chan *jailBox
	size    int
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	creates []time.Duration
	deletes []time.Duration
}

func newBenchPool(b testing.TB, j *testJail, size int) *benchPool {
	p := &benchPool{b: b, j: j, ready: make(chan *jailBox, size), size: size, stop: make(chan struct{})}
	// One filler per slot: a slot is refilled as soon as its sandbox is taken.
	for i := 0; i < size; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				t0 := time.Now()
				body, _ := json.Marshal(map[string]any{"language": benchLang(), "warm": true, "single_use": true})
				status, out := j.request("POST", "/sandboxes", jailAdmin, bytes.NewReader(body))
				if status != http.StatusCreated {
					select {
					case <-p.stop:
					default:
						b.Errorf("create sandbox: %d %s", status, out)
					}
					return
				}
				var r struct{ ID, Token string }
				json.Unmarshal(out, &r)
				p.mu.Lock()
				p.creates = append(p.creates, time.Since(t0))
				p.mu.Unlock()
				box := &jailBox{j: j, t: b, id: r.ID, token: r.Token}
				select {
				case p.ready <- box:
				case <-p.stop:
					box.destroy()
					return
				}
			}
		}()
	}
	return p
}

func (p *benchPool) take() *jailBox { return <-p.ready }

func (p *benchPool) waitFull() {
	for len(p.ready) < p.size {
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *benchPool) destroy(box *jailBox) {
	t0 := time.Now()
	box.destroy()
	p.mu.Lock()
	p.deletes = append(p.deletes, time.Since(t0))
	p.mu.Unlock()
}

func (p *benchPool) costs() (creates, deletes []time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	creates, deletes = slices.Clone(p.creates), slices.Clone(p.deletes)
	slices.Sort(creates)
	slices.Sort(deletes)
	if len(deletes) == 0 {
		deletes = []time.Duration{0}
	}
	return creates, deletes
}

func (p *benchPool) close() {
	close(p.stop)
	for {
		select {
		case box := <-p.ready:
			box.destroy()
			continue
		default:
		}
		break
	}
	p.wg.Wait()
	for len(p.ready) > 0 {
		(<-p.ready).destroy()
	}
}

func benchLang() string {
	if os.Getenv("JAIL_BENCH_LANG") == "js" {
		return "js"
	}
	return "py"
}

func benchJob() map[string]any {
	if benchLang() == "js" {
		return map[string]any{"language": "js", "code": "console.log(1)", "timeout_ms": 10000}
	}
	return map[string]any{"language": "py", "code": "print(1)", "timeout_ms": 10000, "capture_state": true}
}
