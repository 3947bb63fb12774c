package kubelet

import (
	"os"
	"os/exec"
	"syscall"
	"time"
)

// process is a started runner and what became of it.
type process struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
}

// startProcess starts cmd in its own process group, output appended to logPath.
func startProcess(cmd *exec.Cmd, logPath string) (*process, error) {
	out, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own group: a stop reaches everything the runner left in it. Pdeathsig: a crashed kubelet
	// leaves no runner behind.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// kill sends SIGTERM to the process group, then SIGKILL after grace, and waits for the exit.
func (p *process) kill(grace time.Duration) {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
	}
	// The group may outlive its leader; SIGKILL whatever is left either way.
	syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
}

// exitCode is the exit code after exit, 128+N when killed by signal N (as container runtimes report).
func (p *process) exitCode() int32 {
	<-p.exited
	st, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ok && st.Signaled() {
		return 128 + int32(st.Signal())
	}
	return int32(p.cmd.ProcessState.ExitCode())
}
