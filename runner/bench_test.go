package main

import (
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkExecute measures POST /execute through HTTP for a one-line program, warm and cold, and
// reports the latency percentiles of the request (http-p50/p99) and of the run inside the runner
// (run-p50, the response's duration_ms). Waiting for the warm interpreter to be replaced between
// iterations is not timed. The warm Python here pre-imports nothing (so that it restarts fast); set
// RUNNER_BENCH_PRELOAD=1 to add py-warm-preload, which pre-imports numpy, pandas and matplotlib like
// production (slow to restart: run it with -benchtime=50x).
func BenchmarkExecute(b *testing.B) {
	cases := []struct {
		name, lang, code, preload string
		warm                      bool
	}{
		{"py-warm", "py", "print(1)", "", true},
		{"py-cold", "py", "print(1)", "", false},
		{"js-warm", "js", "console.log(1)", "", true},
		{"js-cold", "js", "console.log(1)", "", false},
	}
	if os.Getenv("RUNNER_BENCH_PRELOAD") != "" {
		cases = append(cases, struct {
			name, lang, code, preload string
			warm                      bool
		}{"py-warm-preload", "py", "print(1)", "numpy,pandas,matplotlib", true})
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			opts := runnerOpts{env: map[string]string{"RUNNER_PY_PRELOAD": c.preload}}
			if c.warm {
				opts.args = []string{"--warm", c.lang}
			}
			tr := newRunner(b, opts)
			req := map[string]any{"language": c.lang, "code": c.code, "timeout_ms": 10000}
			httpLat := make([]time.Duration, 0, b.N)
			runLat := make([]float64, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if c.warm {
					b.StopTimer()
					tr.waitWarm(c.lang)
					b.StartTimer()
				}
				start := time.Now()
				res := tr.execute(req)
				httpLat = append(httpLat, time.Since(start))
				runLat = append(runLat, res.DurationMS)
				if res.Stdout != "1\n" {
					b.Fatalf("unexpected result %s", res)
				}
			}
			b.StopTimer()
			if c.warm && tr.srv.warmRuns.Load() != int64(b.N) {
				b.Fatalf("%d of %d runs were warm", tr.srv.warmRuns.Load(), b.N)
			}
			slices.Sort(httpLat)
			slices.Sort(runLat)
			pct := func(p float64) int { return min(len(httpLat)-1, int(p*float64(len(httpLat)))) }
			b.ReportMetric(float64(httpLat[pct(0.50)].Microseconds())/1000, "http-p50-ms")
			b.ReportMetric(float64(httpLat[pct(0.99)].Microseconds())/1000, "http-p99-ms")
			b.ReportMetric(runLat[pct(0.50)], "run-p50-ms")
			b.ReportMetric(runLat[pct(0.99)], "run-p99-ms")
		})
	}
}
