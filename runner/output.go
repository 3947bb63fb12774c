package main

import (
	"io"
	"sync"
	"time"
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
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for {
		n, err := r.Read(*bp)
		c.write((*bp)[:n])
		if err != nil {
			return
		}
	}
}

// drainers reads a step's pipes in the background.
type drainers struct{ wg sync.WaitGroup }

func (d *drainers) start(r io.Reader, c *capture) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		drain(r, c)
	}()
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
