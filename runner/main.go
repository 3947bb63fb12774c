// Command runner is the HTTP server inside every KubeCodeRun sandbox: it runs untrusted code as child
// processes and exposes the sandbox's work directory (see docs/runner-protocol.md).
package main

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if dispatchSubcommand(os.Args) {
		return
	}
	cfg, err := parseConfig(os.Args[1:], os.LookupEnv)
	if err != nil {
		log.Fatalf("runner: %v", err)
	}
	// Each child lowers its scheduling limits (childPrefix), and so does the runner: on Kubernetes the
	// code shares its uid, and may set the scheduling of any process of that uid whose own
	// RLIMIT_RTPRIO allows it. The runner made SCHED_FIFO would hand that to what it starts next (a
	// warm interpreter, the next run of a kept pod), beyond the reach of a child's limits.
	if err := dropSchedulingLimits(); err != nil {
		log.Fatalf("runner: %v", err)
	}
	srv, err := newServer(cfg)
	if err != nil {
		log.Fatalf("runner: %v", err)
	}
	srv.startBackground()
	ignoreFatalSignals()
	hs := &http.Server{Addr: cfg.Listen, Handler: srv.handler(), ReadHeaderTimeout: 30 * time.Second}
	// On SIGTERM/SIGINT kill every child, let a run in progress send its (killed) result, remove the
	// cgroups and leave.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	stopped := make(chan struct{})
	go func() {
		<-stop
		srv.stopping.Store(true)
		killAll()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		hs.Shutdown(ctx)
		cancel()
		srv.Close()
		close(stopped)
	}()
	log.Printf("runner: listening on %s, workdir %s, scratch %s", cfg.Listen, cfg.Workdir, cfg.Scratch)
	if err := hs.ListenAndServe(); err != http.ErrServerClosed {
		log.Fatal(err)
	}
	<-stopped
}

// fatalSignals are the signals whose default handling by the Go runtime ends the process (a stack
// dump for SIGQUIT; SIGSEGV, SIGBUS and SIGFPE only when sent by kill, a real fault still crashes).
// The code of the sandbox may share the runner's uid (on Kubernetes it does, the runner being PID 1 of
// the pod) and so may send them to it: they are caught and dropped. SIGTERM and SIGINT keep their
// meaning, a graceful stop (the kubelet stops a pod with SIGTERM); code that sends them stops its own
// sandbox, as exiting would end its run. The Go runtime gives children the default handling back.
var fatalSignals = []os.Signal{syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGILL, syscall.SIGTRAP, syscall.SIGABRT,
	syscall.SIGBUS, syscall.SIGFPE, syscall.SIGSEGV, syscall.SIGSTKFLT, syscall.SIGSYS}

// ignoreFatalSignals drops fatalSignals for the rest of the process's life.
func ignoreFatalSignals() {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, fatalSignals...)
	go func() {
		for range ch {
		}
	}()
}

// dispatchSubcommand runs the subcommands of the runner binary: "__child LIMITS -- CMD..." (a child
// re-executed to set rlimits before exec), and jail mode's "jail" (the jail server), "__jail" (the same
// in its own mount namespace) and "__template", and "ptc-call" (bash PTC stubs call a
// tool with it). It reports whether args named one.
func dispatchSubcommand(args []string) bool {
	if len(args) < 2 {
		return false
	}
	switch args[1] {
	case childCommand:
		childMain(args[2:])
	case ptcCallCommand:
		ptcCallMain(args[2:])
	case "jail":
		jailMain(args[2:])
	case jailServeCommand:
		jailServe(args[2:])
	case templateCommand:
		templateMain(args[2:])
	default:
		return false
	}
	return true
}
