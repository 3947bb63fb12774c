// Command runner is the HTTP server inside every KubeCodeRun sandbox: it runs untrusted code as child
// processes and exposes the sandbox's work directory (see docs/runner-protocol.md).
package main

import (
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	// The runner re-executes itself as "runner __child LIMITS -- CMD..." to set rlimits before exec.
	if len(os.Args) > 1 && os.Args[1] == childCommand {
		childMain(os.Args[2:])
		return
	}
	cfg, err := parseConfig(os.Args[1:], os.LookupEnv)
	if err != nil {
		log.Fatalf("runner: %v", err)
	}
	srv, err := newServer(cfg)
	if err != nil {
		log.Fatalf("runner: %v", err)
	}
	srv.startBackground()
	// On SIGTERM/SIGINT kill every child and remove the cgroups before leaving.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		killAll()
		srv.Close()
		os.Exit(0)
	}()
	log.Printf("runner: listening on %s, workdir %s, scratch %s", cfg.Listen, cfg.Workdir, cfg.Scratch)
	hs := &http.Server{Addr: cfg.Listen, Handler: srv.handler(), ReadHeaderTimeout: 30 * time.Second}
	log.Fatal(hs.ListenAndServe())
}
