package web

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// fasthttp's graceful shutdown waits for every connection to finish its
// request. A connection that has sent nothing (a load balancer's TCP check, a
// browser's preconnect) or only part of a request is not idle to it, so it
// waited for the read timeout (10 s), past the whole stop budget, and the
// service exited 1. conns tracks the accepted connections so that the stop
// can close those: silentAfter after they were accepted for one that has sent
// no byte, as net/http counts a new connection idle after 5 s, and every one
// still open when the budget for shutting down is spent.
const silentAfter = time.Second

type conns struct {
	mu   sync.Mutex
	open map[*trackedConn]struct{}
}

func newConns() *conns { return &conns{open: map[*trackedConn]struct{}{}} }

// listener wraps ln so that the connections it accepts are tracked.
func (cs *conns) listener(ln net.Listener) net.Listener {
	return &trackingListener{Listener: ln, cs: cs}
}

// closeSilent closes the connections that have sent no byte since they were
// accepted, silentAfter or longer ago, and returns how many it closed.
func (cs *conns) closeSilent(now time.Time) int {
	return cs.closeIf(func(c *trackedConn) bool { return !c.read.Load() && now.Sub(c.accepted) >= silentAfter })
}

// closeAll closes every connection still open and returns how many.
func (cs *conns) closeAll() int { return cs.closeIf(func(*trackedConn) bool { return true }) }

func (cs *conns) closeIf(match func(*trackedConn) bool) int {
	cs.mu.Lock()
	var closing []*trackedConn
	for c := range cs.open {
		if match(c) {
			closing = append(closing, c)
		}
	}
	cs.mu.Unlock()
	for _, c := range closing {
		_ = c.Close()
	}
	return len(closing)
}

type trackingListener struct {
	net.Listener
	cs *conns
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, cs: l.cs, accepted: time.Now()}
	l.cs.mu.Lock()
	l.cs.open[tc] = struct{}{}
	l.cs.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	cs       *conns
	accepted time.Time
	read     atomic.Bool // a byte has arrived
	closed   sync.Once
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.read.Load() {
		c.read.Store(true)
	}
	return n, err
}

func (c *trackedConn) Close() error {
	c.closed.Do(func() {
		c.cs.mu.Lock()
		delete(c.cs.open, c)
		c.cs.mu.Unlock()
	})
	return c.Conn.Close()
}
