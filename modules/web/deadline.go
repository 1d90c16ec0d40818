//go:build !abtest_fasthttpdeadline

package web

import (
	"net"
	"sync"
	"time"
)

// deadlineSlack is how much earlier than asked a connection's deadline may
// fall. fasthttp moves the read deadline twice and the write deadline once
// for every request; each move re-arms a runtime timer, which cost a
// fourteenth of a cached read. A coarse connection keeps the deadline it
// has while a new one would land less than deadlineSlack after it, so a
// busy connection re-arms its timers about once per deadlineSlack, and
// every timeout still fires, at most deadlineSlack early.
const deadlineSlack = time.Second

// coarseListener hands out connections whose deadlines move coarsely.
type coarseListener struct{ net.Listener }

func (l coarseListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &coarseConn{Conn: c}, nil
}

type coarseConn struct {
	net.Conn
	mu          sync.Mutex
	read, write time.Time // the deadlines armed; zero when none
}

func (c *coarseConn) SetReadDeadline(t time.Time) error {
	return c.set(&c.read, t, c.Conn.SetReadDeadline)
}

func (c *coarseConn) SetWriteDeadline(t time.Time) error {
	return c.set(&c.write, t, c.Conn.SetWriteDeadline)
}

func (c *coarseConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// set arms t unless the deadline armed already comes no later than t and
// less than deadlineSlack before it.
func (c *coarseConn) set(armed *time.Time, t time.Time, arm func(time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.IsZero() && !armed.IsZero() && !armed.After(t) && t.Sub(*armed) < deadlineSlack {
		return nil
	}
	if err := arm(t); err != nil {
		return err
	}
	*armed = t
	return nil
}
