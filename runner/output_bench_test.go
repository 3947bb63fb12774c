package main

import (
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The runner's CPU to drain an output flood past the cap (1 MiB kept): another process writes 256 MiB
// into the pipe, and this one's CPU time (RUSAGE_SELF) is what the drain cost, per MiB and as a share
// of a CPU while the flood lasts (discard bounds the rate, so the share).
func BenchmarkDrainAFloodPastTheCap(b *testing.B) {
	var cpu time.Duration
	start := time.Now()
	for i := 0; i < b.N; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command("head", "-c", "268435456", "/dev/zero")
		cmd.Stdout = w
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		w.Close()
		var before, after syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &before)
		c := &capture{}
		c.reset(1 << 20)
		drainPipe(r, r, c, &atomic.Bool{})
		syscall.Getrusage(syscall.RUSAGE_SELF, &after)
		cmd.Wait()
		r.Close()
		if len(c.buf) != 1<<20 || !c.truncated {
			b.Fatalf("kept %d bytes, truncated %v", len(c.buf), c.truncated)
		}
		cpu += time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N*256), "runner-cpu-ms/MiB")
	b.ReportMetric(100*cpu.Seconds()/time.Since(start).Seconds(), "runner-cpu-%")
}
