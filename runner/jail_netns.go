package main

import (
	"bytes"
	"errors"
	"fmt"
	"log"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Network namespaces for sandboxes, reused when a sandbox leaves one exactly as it was made.
//
// Making a network namespace and freeing it cost about a tenth of the machine's CPU per py print(1)
// run (its sysctl tables and loopback set up, then the kernel's clean-up worker and an expedited RCU
// grace period; bench/RESULTS.md, 2026-12-02). Most runs never touch the network, and a namespace no
// process of the sandbox could configure is then as it was: the jail server (host root) makes each
// one, so it belongs to the host's user namespace, in which a sandbox has no capability (it cannot
// add an interface, a route, a firewall rule, change a net sysctl or take lo down). What a sandbox
// without those can leave behind is sockets, what its traffic taught the kernel (TCP metrics,
// TIME_WAIT entries, neighbour and route caches, counters), a flow label lingering after its socket
// and multicast memberships. So when the sandbox is gone, the jail server reads the namespace's
// socket counts, its traffic counters (/proc/net/snmp, snmp6), its IPv6 flow labels and multicast
// groups: only if all of them are exactly as they were when it was made is the namespace given to a
// later sandbox, else it is closed (the kernel frees it). Still the same for every sandbox that gets
// it: its inode number and cookie (an identity, no data; the host's namespace numbers say as much).
//
// Nothing on a sandbox's path waits for the pool's thread: a sandbox takes a namespace waiting (else
// its holder makes one, as without the pool), the thread makes more ahead when few wait, and a
// namespace given back is looked at later, by the thread.
type netnsPool struct {
	parent  *os.File    // what new namespaces are made from (jail_netparent.go); nil: the host's
	work    chan func() // for the pool's thread
	mu      sync.Mutex  // guards the rest
	free    []*netns    // taken from the end: given back ones first, made ones below
	filling bool        // a fill is queued or running
	closed  bool
	// Counted for the jail's /health and tests: namespaces made, handed to sandboxes, kept after
	// a sandbox left them as made, and dropped because one did not.
	made, given, kept, dropped atomic.Int64
}

type netns struct {
	f     *os.File
	clean []byte // its state when made
}

const (
	// netnsKeep is how many namespaces wait for a sandbox at most (a few hundred KiB of kernel
	// memory each); namespaces given back past it are closed.
	netnsKeep = 64
	// The thread makes namespaces ahead up to netnsAhead once fewer than half of it wait.
	netnsAhead = 8
	// netnsQueue bounds the work waiting for the thread; a namespace given back past it is closed.
	netnsQueue = 256
)

// newNetnsPool starts the pool's thread and makes its first namespaces; an error when this host cannot
// make a namespace this way (sandboxes then make their own, as before).
func newNetnsPool(parent *os.File) (*netnsPool, error) {
	p := &netnsPool{parent: parent, work: make(chan func(), netnsQueue)}
	started := make(chan error, 1)
	go func() {
		// Never unlocked: this thread moves between namespaces, and no other goroutine may run on it.
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		started <- err
		if err != nil {
			return
		}
		defer home.Close()
		for op := range p.work {
			op()
			// Every op leaves the thread at home; if it could not, the thread is lost with this
			// goroutine, and its queue fills: sandboxes then make their own namespaces.
			if err := setns(home, syscall.CLONE_NEWNET); err != nil {
				log.Printf("runner jail: the network namespace pool stops: %v", err)
				return
			}
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	made := make(chan error, 1)
	p.work <- func() {
		n, err := p.make()
		if err == nil {
			p.put(n, false)
		}
		made <- err
	}
	if err := <-made; err != nil {
		p.close()
		return nil, err
	}
	p.refill()
	return p, nil
}

// post queues op for the thread without waiting; false when the queue is full or the pool closed.
func (p *netnsPool) post(op func()) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	select {
	case p.work <- op:
		return true
	default:
		return false
	}
}

// take gives a new sandbox a namespace that waits, or nil: its holder then makes one.
func (p *netnsPool) take() *netns {
	p.mu.Lock()
	var n *netns
	if k := len(p.free); k > 0 {
		n = p.free[k-1]
		p.free = p.free[:k-1]
	}
	low := len(p.free) < netnsAhead/2
	p.mu.Unlock()
	if low {
		p.refill()
	}
	if n != nil {
		p.given.Add(1)
	}
	return n
}

// refill has the thread make namespaces ahead, unless it is already at it.
func (p *netnsPool) refill() {
	p.mu.Lock()
	start := !p.filling && !p.closed
	p.filling = true
	p.mu.Unlock()
	if start && !p.post(p.fill) {
		p.mu.Lock()
		p.filling = false
		p.mu.Unlock()
	}
}

// give takes back the namespace of a sandbox whose processes are all gone: the thread keeps it if it
// is as made.
func (p *netnsPool) give(n *netns) {
	if !p.post(func() { p.check(n) }) {
		p.dropped.Add(1)
		n.f.Close()
	}
}

// check runs on the thread.
func (p *netnsPool) check(n *netns) {
	err := setns(n.f, syscall.CLONE_NEWNET)
	var now []byte
	if err == nil {
		now, err = netnsState()
	}
	if err != nil || !bytes.Equal(now, n.clean) {
		p.dropped.Add(1)
		n.f.Close()
		return
	}
	p.kept.Add(1)
	p.put(n, true)
}

// fill runs on the thread: it makes namespaces until netnsAhead wait.
func (p *netnsPool) fill() {
	defer func() {
		p.mu.Lock()
		p.filling = false
		p.mu.Unlock()
	}()
	for {
		p.mu.Lock()
		enough := len(p.free) >= netnsAhead || p.closed
		p.mu.Unlock()
		if enough {
			return
		}
		n, err := p.make()
		if err != nil {
			log.Printf("runner jail: %v", err)
			return
		}
		p.put(n, false)
	}
}

// put adds a namespace to those waiting: one given back on top (the next taken), a new one below.
func (p *netnsPool) put(n *netns, back bool) {
	p.mu.Lock()
	if len(p.free) < netnsKeep && !p.closed {
		if back {
			p.free = append(p.free, n)
		} else {
			p.free = append([]*netns{n}, p.free...)
		}
		n = nil
	}
	p.mu.Unlock()
	if n != nil {
		n.f.Close()
	}
}

// make runs on the thread: a namespace from the parent (or the host's), with lo up, and its state.
func (p *netnsPool) make() (*netns, error) {
	n, err := func() (*netns, error) {
		if p.parent != nil {
			if err := setns(p.parent, syscall.CLONE_NEWNET); err != nil {
				return nil, err
			}
		}
		if err := syscall.Unshare(syscall.CLONE_NEWNET); err != nil {
			return nil, err
		}
		if err := loopbackUp(); err != nil {
			return nil, err
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			return nil, err
		}
		clean, err := netnsState()
		if err != nil {
			f.Close()
			return nil, err
		}
		return &netns{f: f, clean: clean}, nil
	}()
	if err != nil {
		return nil, fmt.Errorf("making a network namespace: %v", err)
	}
	p.made.Add(1)
	return n, nil
}

// close closes the namespaces waiting and ends the thread once its queue is done (what it holds
// then is closed); no sandbox may be made after.
func (p *netnsPool) close() {
	p.mu.Lock()
	p.closed = true
	close(p.work)
	for _, n := range p.free {
		n.f.Close()
	}
	p.free = nil
	p.mu.Unlock()
}

func (p *netnsPool) stats() map[string]int64 {
	p.mu.Lock()
	free := len(p.free)
	p.mu.Unlock()
	return map[string]int64{"made": p.made.Load(), "given": p.given.Load(), "kept": p.kept.Load(),
		"dropped": p.dropped.Load(), "free": int64(free)}
}

func setns(f *os.File, nstype int) error {
	if _, _, e := syscall.RawSyscall(uintptr(sysNumbers["setns"]), f.Fd(), uintptr(nstype), 0); e != 0 {
		return e
	}
	return nil
}

// loopbackUp brings up lo in the calling thread's network namespace (a new one has it down): code may
// talk to itself over 127.0.0.1, and to nothing else.
func loopbackUp() error {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	var req struct {
		name  [syscall.IFNAMSIZ]byte
		flags uint16
		_     [22]byte // the rest of struct ifreq
	}
	copy(req.name[:], "lo")
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCGIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return fmt.Errorf("lo: %v", e)
	}
	req.flags |= syscall.IFF_UP
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.SIOCSIFFLAGS, uintptr(unsafe.Pointer(&req))); e != 0 {
		return fmt.Errorf("lo up: %v", e)
	}
	return nil
}

// netnsState is what a sandbox could have changed of the calling thread's network namespace without
// any capability over it: its sockets (counted whatever their family, Unix ones too), what outlives a
// socket (IPv6 flow labels linger after it, multicast memberships), and every IPv4 and IPv6 packet
// sent or received (everything traffic teaches the kernel comes from one). The /proc/net files are the namespace's own, but for sockstat's fields that are the
// whole host's (orphans, allocated sockets, protocol memory), left out.
func netnsState() ([]byte, error) {
	var b bytes.Buffer
	for _, name := range []string{"sockstat", "sockstat6", "snmp", "snmp6", "ip6_flowlabel", "igmp", "igmp6"} {
		data, err := os.ReadFile("/proc/thread-self/net/" + name)
		if errors.Is(err, os.ErrNotExist) && name != "sockstat" && name != "snmp" {
			continue // no IPv6 in this kernel
		}
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(name, "sockstat") {
			data = netnsOwnSockstat(data)
		}
		b.WriteString(name)
		b.WriteByte('\n')
		b.Write(data)
	}
	return b.Bytes(), nil
}

// netnsOwnSockstat keeps the per-namespace fields of a sockstat file: "sockets: used", each
// protocol's "inuse", TCP's "tw", fragments' "memory" (their "inuse" too). "orphan", "alloc" and a
// protocol's "mem" are the host's.
func netnsOwnSockstat(data []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		b.WriteString(f[0])
		for i := 1; i+1 < len(f); i += 2 {
			switch f[i] {
			case "used", "inuse", "tw", "memory":
				b.WriteString(" " + f[i] + " " + f[i+1])
			}
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
