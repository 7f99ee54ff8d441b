package httpapi

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// ConnLimits bounds the HTTP connections open at once, in total
// (http.max_conns) and from one client IP (http.max_conns_per_client).
// A connection over a limit is served one answer, 429 with Retry-After,
// and closed. Beyond the limit plus RejectSlack the listener closes new
// connections at once without an answer, so goroutines and memory stay
// bounded whatever a client does. Safe for concurrent use.
type ConnLimits struct {
	max, perClient int

	refused atomic.Uint64 // answered 429
	dropped atomic.Uint64 // closed unanswered

	mu sync.Mutex
	// open and perIP are guarded by mu.
	open  int
	perIP map[netip.Addr]int
}

// RejectSlack is how many connections past a limit still get their 429
// answer before new ones are closed unanswered.
const RejectSlack = 32

// NewConnLimits returns limits of max connections in total and perClient
// from one IP (≤ 0: unlimited).
func NewConnLimits(max, perClient int) *ConnLimits {
	return &ConnLimits{max: max, perClient: perClient, perIP: map[netip.Addr]int{}}
}

// ConnStats are the counters of ConnLimits.
type ConnStats struct {
	Open    int
	Refused uint64 // answered 429
	Dropped uint64 // closed unanswered, past RejectSlack
}

// Stats returns the current counters.
func (c *ConnLimits) Stats() ConnStats {
	c.mu.Lock()
	open := c.open
	c.mu.Unlock()
	return ConnStats{Open: open, Refused: c.refused.Load(), Dropped: c.dropped.Load()}
}

// Listener wraps ln so that every accepted connection is counted until it
// is closed.
func (c *ConnLimits) Listener(ln net.Listener) net.Listener {
	return &limitListener{Listener: ln, c: c}
}

type limitListener struct {
	net.Listener
	c *ConnLimits
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc, ok := l.c.admit(conn)
		if ok {
			return lc, nil
		}
		l.c.dropped.Add(1)
		conn.Close()
	}
}

// admit counts conn and decides whether it is over a limit (answered 429)
// or far over it (false: close it unanswered).
func (c *ConnLimits) admit(conn net.Conn) (*limitedConn, bool) {
	ip := remoteIP(conn)
	c.mu.Lock()
	defer c.mu.Unlock()
	total, mine := c.open+1, c.perIP[ip]+1
	over := ""
	switch {
	case c.perClient > 0 && mine > c.perClient:
		over = fmt.Sprintf("httpapi: too many connections from %s (http.max_conns_per_client is %d)", ip, c.perClient)
		if mine > c.perClient+RejectSlack {
			return nil, false
		}
	case c.max > 0 && total > c.max:
		over = fmt.Sprintf("httpapi: too many connections (http.max_conns is %d)", c.max)
	}
	if c.max > 0 && total > c.max+RejectSlack {
		return nil, false
	}
	c.open, c.perIP[ip] = total, mine
	if over != "" {
		c.refused.Add(1)
	}
	return &limitedConn{Conn: conn, c: c, ip: ip, over: over}, true
}

func (c *ConnLimits) release(ip netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open--
	if n := c.perIP[ip] - 1; n > 0 {
		c.perIP[ip] = n
	} else {
		delete(c.perIP, ip)
	}
}

func remoteIP(conn net.Conn) netip.Addr {
	if ta, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(conn.RemoteAddr().String())
	return ap.Addr().Unmap()
}

// limitedConn is one counted connection; over is the 429 text when it is
// past a limit.
type limitedConn struct {
	net.Conn
	c      *ConnLimits
	ip     netip.Addr
	over   string
	closed atomic.Bool
}

func (l *limitedConn) Close() error {
	if l.closed.CompareAndSwap(false, true) {
		l.c.release(l.ip)
	}
	return l.Conn.Close()
}

// overLimitKey carries, in the context of requests on a connection over a
// limit, the 429 text ServeHTTP answers them with.
type overLimitKey struct{}

// connContext marks the requests of an over-limit connection; it sees
// through TLS to the counted connection.
func connContext(ctx context.Context, conn net.Conn) context.Context {
	for {
		if lc, ok := conn.(*limitedConn); ok {
			if lc.over != "" {
				ctx = context.WithValue(ctx, overLimitKey{}, lc.over)
			}
			return ctx
		}
		u, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			return ctx
		}
		conn = u.NetConn()
	}
}
