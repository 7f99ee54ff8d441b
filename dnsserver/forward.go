package dnsserver

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/miekg/dns"
)

// forward asks the recursors in turn for an out-of-zone name and relays
// the first usable answer; SERVFAIL when none gives one. sc.msg holds
// the REFUSED answer resolve made, which becomes the SERVFAIL.
func (s *Server) forward(w dns.ResponseWriter, req *dns.Msg, sc *scratch, rc *runConfig, tcp bool) {
	s.stats.forwarded.Add(1)
	network := "udp"
	if tcp {
		network = "tcp"
	}
	for _, addr := range rc.recursors {
		resp, err := s.exchange(network, addr, req, rc.RecursorTimeout, sc.clientSize)
		if err == nil && (resp.Rcode == dns.RcodeServerFailure || resp.Rcode == dns.RcodeRefused) {
			err = errors.New(dns.RcodeToString[resp.Rcode])
		}
		if err != nil {
			s.log.Debug("recursor failed", "recursor", addr, "question", questionString(req), "err", err)
			continue
		}
		// EDNS is hop by hop: the client gets our OPT, not the upstream's.
		extra := resp.Extra[:0]
		for _, rr := range resp.Extra {
			if rr.Header().Rrtype != dns.TypeOPT {
				extra = append(extra, rr)
			}
		}
		resp.Extra = extra
		if sc.clientSize > 0 {
			resp.Extra = append(resp.Extra, &sc.opt)
		}
		resp.Id = req.Id
		resp.RecursionAvailable = true
		s.send(w, sc, resp, tcp)
		return
	}
	s.stats.forwardFailed.Add(1)
	sc.msg.Rcode = dns.RcodeServerFailure
	s.send(w, sc, &sc.msg, tcp)
}

// exchange sends req to one recursor over network and waits for the
// matching answer, at most timeout, and no longer than the server runs.
func (s *Server) exchange(network, addr string, req *dns.Msg, timeout time.Duration, clientSize int) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// The deadline covers the whole exchange; a cancelled ctx (shutdown)
	// moves it to the past, which unblocks the read at once.
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	co := &dns.Conn{Conn: c, UDPSize: uint16(max(clientSize, dns.MinMsgSize))}
	if err := co.WriteMsg(req); err != nil {
		return nil, err
	}
	for {
		r, err := co.ReadMsg()
		if err != nil {
			return nil, err
		}
		if r.Id == req.Id && r.Response {
			return r, nil
		}
		if network == "tcp" {
			return nil, dns.ErrId
		}
		// UDP: a stray or late datagram; keep reading until the deadline.
	}
}
