package main

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// capture keeps the first max bytes of a stream and drops the rest, so an output flood costs the
// runner at most max bytes however long it runs. One capture serves all steps of a run (compiler
// diagnostics, then the program's stderr). Its buffer is reused across runs.
type capture struct {
	max       int
	buf       []byte
	truncated bool
}

func (c *capture) reset(max int) {
	c.max, c.buf, c.truncated = max, c.buf[:0], false
}

func (c *capture) write(p []byte) {
	room := c.max - len(c.buf)
	if len(p) > room {
		p, c.truncated = p[:max(room, 0)], true
	}
	c.buf = append(c.buf, p...)
}

var readBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// drain copies r into c until EOF or a read error (e.g. the runner closed the pipe).
func drain(r io.Reader, c *capture) {
	drainPipe(r, nil, c, nil)
}

// drainPipe reads r (which reads from pipe f) into c until EOF or, once finishing is set, until the pipe
// is empty: finish wakes a blocked read with a deadline, and a deadline only ends the drain when nothing
// is left to read, so no output is lost to a reader that was slow to get the CPU.
func drainPipe(r io.Reader, f *os.File, c *capture, finishing *atomic.Bool) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for {
		var err error
		if c.truncated && f != nil && r == io.Reader(f) {
			err = discard(f)
		} else {
			var n int
			n, err = r.Read(*bp)
			c.write((*bp)[:n])
			if err == nil {
				continue
			}
		}
		if f != nil && finishing.Load() && errors.Is(err, os.ErrDeadlineExceeded) && pipeBuffered(f) > 0 {
			f.SetReadDeadline(time.Now().Add(time.Millisecond))
			continue
		}
		return
	}
}

var devNull = sync.OnceValues(func() (*os.File, error) { return os.OpenFile(os.DevNull, os.O_WRONLY, 0) })

// discardRate bounds how fast a stream is drained once its capture is full. Draining costs the runner
// (root, outside every sandbox's CPU limit) about what writing cost the flooding code, ~0.2 ms of CPU
// per MiB here, mostly freeing the pipe's pages (bench: BenchmarkDrainAFloodPastTheCap): unbounded, a
// sandbox held to one CPU had another one's worth spent on its behalf. At this rate a flood costs the
// runner a few percent of a CPU, and the flooding code waits on its full pipe instead.
const discardRate = 128 << 20 // bytes per second

// discard empties pipe f into /dev/null until EOF (io.EOF) or f's read deadline, once its capture is
// full, at discardRate at most: in splices of up to a MiB (a pipe that large), each followed by a pause
// in proportion.
func discard(f *os.File) error {
	null, err := devNull()
	if err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	rc.Control(func(fd uintptr) { syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, 1<<20) })
	for {
		var n int64
		var serr error
		if err := rc.Read(func(fd uintptr) bool {
			n, serr = syscall.Splice(int(fd), nil, int(null.Fd()), nil, 1<<20, spliceFMove|spliceFNonblock)
			return serr != syscall.EAGAIN
		}); err != nil {
			return err // the deadline, or f closed
		}
		switch {
		case serr == syscall.EINTR:
		case serr != nil:
			return serr
		case n == 0:
			return io.EOF
		default:
			time.Sleep(time.Duration(n) * time.Second / discardRate)
		}
	}
}

const (
	spliceFMove     = 0x1
	spliceFNonblock = 0x2
	fSetPipeSize    = 1031 // F_SETPIPE_SZ
)

// pipeBuffered is how many bytes wait in a pipe (FIONREAD), without disturbing f's deadlines.
func pipeBuffered(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	rc.Control(func(fd uintptr) {
		var v int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&v))); e == 0 {
			n = int(v)
		}
	})
	return n
}

// drainers reads a step's pipes in the background.
type drainers struct {
	wg        sync.WaitGroup
	finishing atomic.Bool
	files     []*os.File
}

func (d *drainers) start(f *os.File, c *capture) {
	d.startReader(f, f, c)
}

// startReader drains r, which reads from pipe f (e.g. through a bufio.Reader).
func (d *drainers) startReader(r io.Reader, f *os.File, c *capture) {
	d.files = append(d.files, f)
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		drainPipe(r, f, c, &d.finishing)
	}()
}

// finishWhenEmpty ends the drains once the pipes are empty instead of at EOF. For a step whose writer
// closed its output before reporting its end: other holders of the pipe (processes the code forked,
// killed with it) close it only when their exit is over, milliseconds later with numpy mapped.
func (d *drainers) finishWhenEmpty() {
	d.finishing.Store(true)
	for _, f := range d.files {
		f.SetReadDeadline(time.Now().Add(time.Millisecond))
	}
}

// wait waits for the readers to hit EOF. The step's processes are all dead by now, so EOF is immediate;
// the grace period only guards against a pipe held open by something the runner cannot kill, after
// which the pipes are closed to unblock the readers.
func (d *drainers) wait(p *proc) {
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		p.closePipes()
		<-done
	}
}
