package kubelet

import (
	"fmt"
	"net"
	"sync"
)

// ipPool hands out loopback addresses 127.N.x.y (all of 127.0.0.0/8 is loopback on Linux), one per
// pod, so every runner listens on the same port like pods do.
type ipPool struct {
	prefix string
	mu     sync.Mutex
	used   map[string]bool
	next   int
}

func newIPPool(prefix string) *ipPool {
	return &ipPool{prefix: prefix, used: map[string]bool{}, next: 1}
}

// alloc returns a free address on which port can be bound, skipping addresses someone else holds
// (another kubelet on the same prefix, a leftover process).
func (ip *ipPool) alloc(port int32) (string, error) {
	ip.mu.Lock()
	defer ip.mu.Unlock()
	for range 65000 {
		n := ip.next
		ip.next = ip.next%65000 + 1
		if n%256 == 0 || n%256 == 255 {
			continue
		}
		addr := fmt.Sprintf("%s.%d.%d", ip.prefix, n/256, n%256)
		if ip.used[addr] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", addr, port))
		if err != nil {
			continue
		}
		l.Close()
		ip.used[addr] = true
		return addr, nil
	}
	return "", fmt.Errorf("no free loopback address in %s.0.0/16", ip.prefix)
}

func (ip *ipPool) free(addr string) {
	ip.mu.Lock()
	delete(ip.used, addr)
	ip.mu.Unlock()
}
